"""Global image descriptors for copy detection, each registered by name.

Design
------
* ``pdq`` (Meta PDQ, 256 bits + a 0-100 quality score, via ``pdqhash``); queries may use the
  8 dihedral variants (flips, 90-degree rotations) and keep the best match.
* ``phash`` (imagehash pHash, 64 bits).
* ``sscd`` / ``sscd-distilled`` (SSCD ``sscd_disc_mixup``, int8 ONNX, and its MobileNetV4 student;
  uint8 [B,H,W,3] in, L2-normalised 512-d out) through :func:`sleuth.models.resolve`. Without the
  carrier, ``sscd`` falls back to Meta's official TorchScript (downloaded once, needs torch and
  internet; ImageNet normalisation done here); the int8 ONNX and the TorchScript are close but
  not identical, so one index should use one of them.
  Images are resized so the short side is 288 px (SSCD's evaluation size); the ONNX graph does
  the normalisation itself. Batch size is 1: inputs differ in shape and the int8 model uses
  dynamic quantisation, whose scales depend on the batch.

The short side of 288 px was chosen by timing SSCD at 288, 384 and 768 (cost grows with the
square of the side, quality did not improve on the benchmark; timings in docs/copydetect.md).
Binary hashes are stored as packed bytes so FAISS binary indexes search them by Hamming distance.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..settings import get_settings
from ..util import cpu_session

SSCD_SHORT_SIDE = 288


@dataclass(frozen=True)
class Descriptor:
    """A named descriptor: ``binary`` ones return packed uint8 codes (``nbits`` bits), float
    ones L2-normalised float32 vectors of ``dim``; ``compute(rgb)`` takes HxWx3 uint8."""

    name: str
    kind: str  # "binary" | "float"
    dim: int  # bits for binary, dimensions for float
    compute: Callable[[np.ndarray], np.ndarray]
    description: str = ""

    @property
    def nbytes(self) -> int:
        return self.dim // 8 if self.kind == "binary" else self.dim * 4


DESCRIPTORS: dict[str, Descriptor] = {}


def register_descriptor(d: Descriptor) -> Descriptor:
    DESCRIPTORS[d.name] = d
    return d


def get(name: str) -> Descriptor:
    from ..errors import UsageError

    if name not in DESCRIPTORS:
        raise UsageError(f"unknown descriptor '{name}'; known: {', '.join(DESCRIPTORS)}")
    return DESCRIPTORS[name]


# --------------------------------------------------------------------------- hashes

def pdq_with_quality(rgb: np.ndarray) -> tuple[np.ndarray, int]:
    import pdqhash

    bits, quality = pdqhash.compute(np.ascontiguousarray(rgb))
    return np.packbits(bits.astype(np.uint8)), int(quality)


def pdq_dihedral(rgb: np.ndarray) -> np.ndarray:
    """The 8 dihedral PDQ codes (rows), packed: original, rotations and flips."""
    import pdqhash

    hashes, _ = pdqhash.compute_dihedral(np.ascontiguousarray(rgb))
    return np.stack([np.packbits(h.astype(np.uint8)) for h in hashes])


def _pdq(rgb: np.ndarray) -> np.ndarray:
    return pdq_with_quality(rgb)[0]


def _phash(rgb: np.ndarray) -> np.ndarray:
    import imagehash
    from PIL import Image

    h = imagehash.phash(Image.fromarray(rgb))
    return np.packbits(np.asarray(h.hash, dtype=np.uint8).ravel())


register_descriptor(Descriptor("pdq", "binary", 256, _pdq, "Meta PDQ perceptual hash (256 bits)"))
register_descriptor(Descriptor("phash", "binary", 64, _phash, "imagehash pHash (64 bits)"))


# --------------------------------------------------------------------------- SSCD

_SESSIONS: dict[str, Any] = {}  # onnxruntime sessions, or the TorchScript SSCD module
_LOCK = threading.Lock()


def _session(model: str):
    with _LOCK:
        if model not in _SESSIONS:
            from ..models import resolve

            _SESSIONS[model] = cpu_session(resolve(model), get_settings().ort_threads)
        return _SESSIONS[model]


def sscd_input(rgb: np.ndarray, short_side: int = SSCD_SHORT_SIDE) -> np.ndarray:
    """Resize so the short side is ``short_side`` (area filter when shrinking)."""
    import cv2

    h, w = rgb.shape[:2]
    s = short_side / min(h, w)
    nw, nh = max(8, round(w * s)), max(8, round(h * s))
    # cap extreme aspect ratios so a panorama does not cost a huge forward pass
    if max(nw, nh) > 4 * short_side:
        f = 4 * short_side / max(nw, nh)
        nw, nh = max(8, round(nw * f)), max(8, round(nh * f))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(rgb, (nw, nh), interpolation=interp))


def _torchscript_sscd():
    """Fallback for users with internet and torch but no carrier: Meta's official TorchScript
    (``sscd_disc_mixup.torchscript.pt``) downloaded once into the sleuth cache."""
    from ..errors import ModelNotFoundError
    from ..models import MODELS, cache_dir

    url = MODELS["sscd"].url
    if not url:
        raise ModelNotFoundError("SSCD has no TorchScript download URL")
    dest = cache_dir() / "models" / "sscd_disc_mixup.torchscript.pt"
    if not dest.is_file():
        if get_settings().offline:
            raise ModelNotFoundError(f"SSCD TorchScript not in {dest} and SLEUTH_OFFLINE=1")
        import urllib.request

        from ..util import atomic_path

        dest.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(dest) as tmp, urllib.request.urlopen(url, timeout=60) as resp, open(tmp, "wb") as fh:
            while chunk := resp.read(1 << 20):
                fh.write(chunk)
    import torch

    return torch.jit.load(str(dest), map_location="cpu").eval()


def _sscd_fn(model: str) -> Callable[[np.ndarray], np.ndarray]:
    def compute(rgb: np.ndarray) -> np.ndarray:
        from ..errors import ModelNotFoundError

        x = sscd_input(rgb)[None]
        try:
            sess = _session(model)
        except ModelNotFoundError:
            if model != "sscd" or not _has_torch():
                raise
            with _LOCK:
                if "sscd-torchscript" not in _SESSIONS:
                    _SESSIONS["sscd-torchscript"] = _torchscript_sscd()
            import torch

            t = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255.0
            mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
            std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
            with torch.no_grad():
                v = _SESSIONS["sscd-torchscript"]((t - mean) / std)[0].numpy().astype(np.float32)
            return v / max(float(np.linalg.norm(v)), 1e-12)
        v = np.asarray(sess.run(None, {"image": x})[0][0], np.float32)
        return v / max(float(np.linalg.norm(v)), 1e-12)

    return compute


def _has_torch() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


register_descriptor(Descriptor("sscd", "float", 512, _sscd_fn("sscd"), "SSCD sscd_disc_mixup (int8 ONNX)"))
register_descriptor(Descriptor("sscd-distilled", "float", 512, _sscd_fn("sscd-distilled"),
                               "MobileNetV4 student distilled from SSCD"))


def compute_many(name: str, images: Iterable[np.ndarray], total: int | None = None, progress: bool = False) -> np.ndarray:
    """Descriptors of many RGB arrays stacked as rows, with an optional progress bar on stderr."""
    d = get(name)
    bar = _progress(total, f"{name}") if progress else None
    rows = []
    try:
        for rgb in images:
            rows.append(d.compute(rgb))
            if bar:
                bar[0].advance(bar[1])
    finally:
        if bar:
            bar[0].stop()
    dtype = np.uint8 if d.kind == "binary" else np.float32
    return np.stack(rows).astype(dtype) if rows else np.zeros((0, d.nbytes if d.kind == "binary" else d.dim), dtype)


def _progress(total: int | None, label: str):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    prog = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=Console(stderr=True), transient=True)
    prog.start()
    return prog, prog.add_task(label, total=total)


def hamming_similarity(a: np.ndarray, b: np.ndarray, nbits: int) -> np.ndarray:
    """1 - Hamming/nbits between packed code ``a`` (row or rows) and rows ``b``."""
    x = np.bitwise_xor(np.atleast_2d(a)[:, None, :], np.atleast_2d(b)[None, :, :])
    return 1.0 - np.unpackbits(x, axis=-1).sum(-1) / nbits
