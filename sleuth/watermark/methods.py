"""Watermark methods behind one interface: sleuth's own mark and the open baselines.

``get_method(name)`` returns an object with ``embed(rgb, key, payload=None, strength=1.0)``
and ``detect(rgb, key, fpr=1e-6) -> Result``. Every method is keyed the same way (the key
is parsed by :mod:`sleuth.watermark.keys`), so benchmarks and the CLI treat them alike.

* ``sleuth``: :mod:`sleuth.watermark.sleuthmark` (64-bit payload, or 128 bits with
  ``bits=128``; BCH, p-value from the sync statistic).
* ``dwtDct``, ``dwtDctSvd`` (invisible-watermark, the Stable Diffusion / SDXL mark; 48 bits as
  SD uses) and ``rivaGan`` (32 bits, ONNX run directly with onnxruntime, no torch). These carry
  no error correction and no sync, so they are used as *zero-bit* marks: the embedded bits are
  derived from the key (HKDF) and detection counts matching bits; the p-value is the binomial
  tail P(X >= matches), X ~ Bin(n, 1/2), the convention of the WAVES/W-Bench evaluations.
  The invisible-watermark modules are loaded from their files so that ``import imwatermark``
  (which imports torch) is never executed.
* ``trustmark``: used when the ``trustmark`` package and its weights are present locally;
  otherwise :class:`MethodUnavailable` with a one-line reason (weights are a run-time
  download, which sleuth does not do on its own).
"""
from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import SleuthError, UsageError
from ..stats import binom_pvalue
from . import sleuthmark
from .keys import parse_key


class MethodUnavailable(SleuthError):
    """The method's code or weights are not available on this machine."""


@dataclass
class Result:
    method: str
    detected: bool
    p_value: float
    score: float  # method-specific statistic (t for sleuth, matching bits for baselines)
    message: bytes | None = None
    bits: np.ndarray | None = None  # best-guess payload bits (for bit accuracy)
    n_bits: int = 0
    corrected: int | None = None
    details: dict = field(default_factory=dict)


class Method(Protocol):
    name: str
    n_bits: int
    carries_message: bool

    def embed(self, rgb: np.ndarray, key, payload: bytes | None = None, strength: float = 1.0) -> np.ndarray: ...

    def detect(self, rgb: np.ndarray, key, fpr: float = 1e-6) -> Result: ...

    def expected_bits(self, key, payload: bytes | None = None) -> np.ndarray: ...


class SleuthMethod:
    name = "sleuth"
    carries_message = True

    def __init__(self, bits: int = 64):
        if bits not in sleuthmark.LAYOUTS:
            raise UsageError(f"--bits must be 64 or 128, got {bits}")
        self.n_bits = bits

    def embed(self, rgb, key, payload=None, strength=1.0):
        return sleuthmark.embed(rgb, key, payload if payload is not None else bytes(self.n_bits // 8), strength)

    def detect(self, rgb, key, fpr=1e-6):
        d = sleuthmark.detect(rgb, key, fpr=fpr, bits=self.n_bits)
        return Result(self.name, d.detected, d.p_value, d.z, d.message, d.bits, self.n_bits,
                      d.corrected if d.ecc_ok else None,
                      {"angle": round(d.angle, 2), "scale": round(d.scale, 4), "aspect": round(d.aspect, 4),
                       "flipped": d.flipped, "ecc_ok": d.ecc_ok, **d.details})

    def expected_bits(self, key, payload=None):
        return np.unpackbits(np.frombuffer(payload if payload is not None else bytes(self.n_bits // 8), np.uint8))


@lru_cache(maxsize=1)
def _imwatermark_dir() -> Path:
    from ..models import ModelNotFoundError, resolve

    try:
        return resolve("rivagan-encoder", download=False).parent
    except ModelNotFoundError:
        spec = importlib.util.find_spec("imwatermark")
        if spec and spec.submodule_search_locations:
            return Path(list(spec.submodule_search_locations)[0])
    raise MethodUnavailable("invisible-watermark is not installed (pip install --no-deps invisible-watermark, or 'sleuth models install')")


def _load_module(fname: str):
    name = f"_sleuth_imwatermark_{fname}"
    if name in sys.modules:
        return sys.modules[name]
    path = _imwatermark_dir() / f"{fname}.py"
    if not path.is_file():
        raise MethodUnavailable(f"invisible-watermark file {path} is missing")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise MethodUnavailable(f"invisible-watermark file {path} cannot be imported")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def reference_dwtdct():
    """invisible-watermark's own ``EmbedMaxDct`` class (the reference dwtDct encoder and decoder).

    Returns
    -------
    type
        ``EmbedMaxDct``, loaded from the package's file so that its ``__init__`` (which imports
        torch) is skipped.

    Raises
    ------
    MethodUnavailable
        When invisible-watermark is neither installed nor in the model-carrier cache.
    """
    return _load_module("maxDct").EmbedMaxDct


class _BitsBaseline:
    name = "?"
    n_bits = 32
    carries_message = False

    def expected_bits(self, key, payload=None):
        if payload is not None:
            raise UsageError(f"method {self.name} carries only a key-derived zero-bit mark; --message/--hex need --method sleuth")
        raw = parse_key(key).derive(f"baseline/{self.name}", (self.n_bits + 7) // 8)
        return np.unpackbits(np.frombuffer(raw, np.uint8))[: self.n_bits]

    def _check(self, rgb):
        h, w = rgb.shape[:2]
        if h * w < 256 * 256:
            raise UsageError(f"image too small for {self.name}: {w}x{h} (needs at least 256x256 pixels)")

    def detect(self, rgb, key, fpr=1e-6):
        self._check(rgb)
        want = self.expected_bits(key)
        got = np.asarray(self._decode(rgb), dtype=np.uint8)[: self.n_bits]
        matches = int((got == want).sum())
        p = binom_pvalue(matches, self.n_bits)
        return Result(self.name, p <= fpr, p, float(matches), None, got, self.n_bits)


class DwtDct(_BitsBaseline):
    name = "dwtDct"
    n_bits = 48
    _cls = ("maxDct", "EmbedMaxDct")

    def _impl(self, bits):
        mod = _load_module(self._cls[0])
        return getattr(mod, self._cls[1])(watermarks=list(bits), wmLen=self.n_bits)

    def embed(self, rgb, key, payload=None, strength=1.0):
        self._check(rgb)
        bits = self.expected_bits(key, payload)
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        return np.ascontiguousarray(self._impl(bits).encode(bgr)[..., ::-1])

    def _decode(self, rgb):
        return self._impl([]).decode(np.ascontiguousarray(rgb[..., ::-1]))


class DwtDctSvd(DwtDct):
    name = "dwtDctSvd"
    _cls = ("dwtDctSvd", "EmbedDwtDctSvd")


class RivaGan(_BitsBaseline):
    name = "rivaGan"
    n_bits = 32

    @staticmethod
    @lru_cache(maxsize=1)
    def _sessions():
        import onnxruntime as ort

        from ..models import ModelNotFoundError, resolve

        try:
            enc, dec = resolve("rivagan-encoder"), resolve("rivagan-decoder")
        except ModelNotFoundError as exc:
            raise MethodUnavailable(f"rivaGan weights not available: {exc}") from None
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        return (ort.InferenceSession(str(enc), opts, providers=["CPUExecutionProvider"]),
                ort.InferenceSession(str(dec), opts, providers=["CPUExecutionProvider"]))

    @staticmethod
    def _frame(rgb):
        bgr = rgb[..., ::-1].astype(np.float32) / 127.5 - 1.0  # imwatermark feeds cv2 BGR frames
        return bgr.transpose(2, 0, 1)[None, :, None]

    def embed(self, rgb, key, payload=None, strength=1.0):
        self._check(rgb)
        bits = self.expected_bits(key, payload).astype(np.float32)[None]
        enc, _ = self._sessions()
        out = enc.run(None, {"frame": self._frame(rgb), "data": bits})[0]
        bgr = (np.clip(out[0, :, 0].transpose(1, 2, 0), -1, 1) + 1.0) * 127.5
        return np.ascontiguousarray(bgr.astype(np.uint8)[..., ::-1])

    def _decode(self, rgb):
        _, dec = self._sessions()
        out = dec.run(None, {"frame": self._frame(rgb)})[0][0]
        return (out > 0.52).astype(np.uint8)


class TrustMark(_BitsBaseline):
    name = "trustmark"
    n_bits = 100

    def __init__(self):
        if importlib.util.find_spec("trustmark") is None:
            raise MethodUnavailable("TrustMark skipped: the 'trustmark' package is not installed and its weights are not "
                                    "cached (they are a run-time download from the TrustMark release; sleuth never downloads them itself)")
        spec = importlib.util.find_spec("trustmark")
        mdir = Path(list(spec.submodule_search_locations)[0]) / "models"
        if not any(mdir.glob("*.ckpt")) and not any(mdir.glob("*.onnx")):
            raise MethodUnavailable(f"TrustMark skipped: weights are not cached in {mdir}")
        from trustmark import TrustMark as _TM  # pragma: no cover - not installed here

        self._tm = _TM(verbose=False, model_type="Q")

    def embed(self, rgb, key, payload=None, strength=1.0):  # pragma: no cover - needs weights
        from PIL import Image

        bits = "".join(map(str, self.expected_bits(key, payload)[: self._tm.schemaCapacity()]))
        return np.asarray(self._tm.encode(Image.fromarray(rgb), bits, MODE="binary").convert("RGB"))

    def _decode(self, rgb):  # pragma: no cover - needs weights
        from PIL import Image

        s, present, _ = self._tm.decode(Image.fromarray(rgb), MODE="binary")
        return np.array([int(c) for c in s.ljust(self.n_bits, "0")], np.uint8)


METHODS = {"sleuth": SleuthMethod, "dwtDct": DwtDct, "dwtDctSvd": DwtDctSvd, "rivaGan": RivaGan, "trustmark": TrustMark}


def get_method(name: str, bits: int = 64) -> Method:
    """Instantiate a method by name.

    Parameters
    ----------
    name : str
        One of :data:`METHODS`.
    bits : int
        Payload length of sleuth's own mark (64 or 128); the baselines have fixed lengths and
        refuse anything but 64 (the default).

    Returns
    -------
    Method
        The method; UsageError for unknown names or lengths, MethodUnavailable when its
        code or weights are missing.
    """
    cls = METHODS.get(name)
    if cls is None:
        raise UsageError(f"unknown watermark method '{name}'; known: {', '.join(METHODS)}")
    if cls is SleuthMethod:
        return SleuthMethod(bits)
    if bits != 64:
        raise UsageError(f"--bits applies to --method sleuth only (method {name} has a fixed length)")
    return cls()
