"""Self-consistency: a patch embedding of the camera/compression pipeline, learnt from real photos.

Design
------
* Idea (Huh et al. 2018, "Fighting fake news: image splice detection via learned
  self-consistency"; Cozzolino & Verdoliva's Noiseprint): no tampered images are needed to
  learn what a *consistent* image looks like. A small CNN maps a 32x32 patch to a 16-d unit
  vector such that patches that went through the same pipeline (same photo, same
  compression history) are close and patches with different pipelines are far. Trained by
  :mod:`.sctrain` (supervised contrastive loss) on real photos of the development split only;
  negatives include *the same photo* re-processed differently (another JPEG quality or grid
  offset, double compression, resampling, added noise), so content cannot explain the
  distance and the embedding has to read the processing history.
* Input: high-pass residuals of Y, Cb and Cr (``x - box3(x)``), the part of the signal
  where demosaicing, denoising and quantisation leave their traces.
* Network (about 14 k parameters, a few tens of KB as ``sleuth/data/forensics/selfconsistency.npz``):
  conv3x3 3->8, conv3x3/2 8->16, conv3x3/2 16->32, conv3x3/2 32->32 (ReLU; a feature map at
  1/8 resolution), mean over the 4x4 cells of a 32 px window, then a 32->32->16 MLP and L2
  normalisation. The trunk is fully convolutional, so at scan time it runs once over the
  image (in tiles with a 16 px halo, bounded memory) and every window's embedding is a box
  mean of the shared feature map: the cost is per pixel, not per window. Inference is NumPy
  (im2col + BLAS); torch is only needed to train.
* Localisation: windows on a 16 px stride (32 px above 2 MP, to bound time), textured and
  unclipped ones only (the other analyzers' reliability rule), the outer ring left out. The
  image's own pipeline is the robust centre of its window embeddings (mean of the 60% nearest
  the running centre, three rounds); a window's inconsistency is its cosine distance to that
  centre as a robust z-score (scale floored at 0.02 so a very uniform image does not blow
  small distances up), averaged over 3x3 windows. Heat = clip((z - 1.5) / 3, 0, 1).
* Image-level score: mean of the top 2% of the smoothed z (the same rule as ELA and noise);
  the stacked decision also reads the map's area and largest blob.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .common import (
    MIN_BLOCKS,
    NotEnoughSignal,
    Result,
    block_reliability,
    check_size,
    drop_border,
    gray_f32,
    robust_z,
    smooth,
    top_mean,
)

WEIGHTS = Path(__file__).resolve().parents[1] / "data" / "forensics" / "selfconsistency.npz"
PATCH = 32  # window side in pixels (4 x 4 cells of the 1/8 feature map)
CELL = 8
TRUNK = (("c1", 1), ("c2", 2), ("c3", 2), ("c4", 2))  # (layer, stride); 3x3 kernels, padding 1
HEAD = ("h1", "h2")
TILE = 1024
HALO = 16
MIN_SCALE = 0.02
LARGE_MP = 2.0


def residual(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB -> HxWx3 float32 high-pass residual of (Y, Cr, Cb), about unit scale.

    Parameters
    ----------
    rgb : numpy.ndarray
        uint8 image.

    Returns
    -------
    numpy.ndarray
    """
    import cv2

    x = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YCrCb).astype(np.float32)
    return (x - cv2.blur(x, (3, 3), borderType=cv2.BORDER_REFLECT)) / 4.0


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int) -> np.ndarray:
    """x: HxWxCin, w: Cout x Cin x 3 x 3 (torch layout), padding 1, then ReLU (im2col + BLAS; the
    columns are the nine shifted views side by side, contiguous runs of channels)."""
    h, wd = -(-x.shape[0] // stride), -(-x.shape[1] // stride)
    xp = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    cols = np.concatenate([xp[dy: dy + stride * h: stride, dx: dx + stride * wd: stride]
                           for dy in range(3) for dx in range(3)], axis=-1).reshape(h * wd, -1)
    out = cols @ w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1).T + b  # (ky, kx, Cin) order
    return np.maximum(out, 0, out=out).reshape(h, wd, -1)


def _conv_full(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The stride-1 layer as one 3x3 correlation per (input, output) channel pair (OpenCV, zero
    border): at full resolution the im2col copy cost most of the analyzer's time."""
    import cv2

    out = np.empty(x.shape[:2] + (w.shape[0],), np.float32)
    chans = [np.ascontiguousarray(x[..., i]) for i in range(x.shape[2])]
    for o in range(w.shape[0]):
        acc = np.full(x.shape[:2], b[o], np.float32)
        for i, ch in enumerate(chans):
            acc += cv2.filter2D(ch, cv2.CV_32F, w[o, i], borderType=cv2.BORDER_CONSTANT)
        out[..., o] = np.maximum(acc, 0)
    return out


def trunk(weights: dict, res: np.ndarray) -> np.ndarray:
    """Residual HxWx3 -> feature map (ceil(H/8), ceil(W/8), C)."""
    x = res
    for name, stride in TRUNK:
        w, b = weights[name + ".weight"], weights[name + ".bias"]
        x = _conv_full(x, w, b) if stride == 1 else _conv(x, w, b, stride)
    return x


def feature_map(weights: dict, rgb: np.ndarray, tile: int = TILE) -> np.ndarray:
    """The trunk over the whole image in tiles (with a halo), stitched: (H//8, W//8, C) float32."""
    h, w = rgb.shape[:2]
    gh, gw = h // CELL, w // CELL
    out = None
    for y0 in range(0, gh * CELL, tile):
        for x0 in range(0, gw * CELL, tile):
            y1, x1 = min(y0 + tile, gh * CELL), min(x0 + tile, gw * CELL)
            ya, xa = max(0, y0 - HALO), max(0, x0 - HALO)
            yb, xb = min(h, y1 + HALO), min(w, x1 + HALO)
            f = trunk(weights, residual(rgb[ya:yb, xa:xb]))
            if out is None:
                out = np.zeros((gh, gw, f.shape[-1]), np.float32)
            cy, cx = (y0 - ya) // CELL, (x0 - xa) // CELL
            ny, nx = (y1 - y0) // CELL, (x1 - x0) // CELL
            out[y0 // CELL: y0 // CELL + ny, x0 // CELL: x0 // CELL + nx] = f[cy: cy + ny, cx: cx + nx]
    if out is None:
        raise NotEnoughSignal("image too small for 8 px cells")
    return out


def head(weights: dict, pooled: np.ndarray) -> np.ndarray:
    """Pooled trunk features (..., C) -> unit embeddings (..., D)."""
    z = np.maximum(pooled @ weights["h1.weight"].T + weights["h1.bias"], 0)
    z = z @ weights["h2.weight"].T + weights["h2.bias"]
    return z / np.maximum(np.linalg.norm(z, axis=-1, keepdims=True), 1e-6)


def window_embeddings(weights: dict, rgb: np.ndarray, stride: int = 16) -> np.ndarray:
    """Embeddings of 32 px windows on a ``stride`` px grid: (ny, nx, D) float32.

    Parameters
    ----------
    weights : dict
        Network weights (:func:`load_weights`).
    rgb : numpy.ndarray
        uint8 HxWx3 image.
    stride : int
        Window step in pixels (a multiple of 8).

    Returns
    -------
    numpy.ndarray
    """
    f = feature_map(weights, rgb)
    k, s = PATCH // CELL, max(1, stride // CELL)
    c = np.pad(np.cumsum(np.cumsum(f, axis=0), axis=1), ((1, 0), (1, 0), (0, 0)))
    ys, xs = np.arange(0, f.shape[0] - k + 1, s), np.arange(0, f.shape[1] - k + 1, s)
    if ys.size == 0 or xs.size == 0:
        raise NotEnoughSignal("image too small for 32 px windows")
    box = c[ys[:, None] + k, xs[None] + k] - c[ys[:, None], xs[None] + k] - c[ys[:, None] + k, xs[None]] + c[ys[:, None], xs[None]]
    return head(weights, box / (k * k)).astype(np.float32)


def robust_centre(e: np.ndarray, keep: float = 0.6, rounds: int = 3) -> np.ndarray:
    """Unit vector at the centre of the majority of embeddings ``e`` (n, D)."""
    c = e.mean(axis=0)
    for _ in range(rounds):
        c = c / max(float(np.linalg.norm(c)), 1e-6)
        d = 1.0 - e @ c
        near = d <= np.quantile(d, keep)
        c = e[near].mean(axis=0)
    return c / max(float(np.linalg.norm(c)), 1e-6)


def _window_reliability(gray: np.ndarray, ny: int, nx: int, stride: int) -> np.ndarray:
    """1 for windows whose 16 px blocks are all textured and unclipped."""
    rel16 = block_reliability(gray, 16)
    k, s = PATCH // 16, stride // 16
    out = np.ones((ny, nx), np.float32)
    for dy in range(k):
        for dx in range(k):
            sub = rel16[dy::s, dx::s][:ny, :nx]
            out[: sub.shape[0], : sub.shape[1]] *= sub
            out[sub.shape[0]:, :] = 0
            out[:, sub.shape[1]:] = 0
    return out


def to_blocks(m: np.ndarray, stride: int) -> np.ndarray:
    """Window grid -> the grid of ``stride`` px blocks the windows tile (a block's value is the mean
    of the windows that cover it), so that upsampling the map to the image keeps it in place."""
    if stride >= PATCH:
        return m.astype(np.float32)
    p = np.pad(m.astype(np.float32), 1, mode="edge")
    return (0.25 * (p[:-1, :-1] + p[1:, :-1] + p[:-1, 1:] + p[1:, 1:])).astype(np.float32)


_LOADED: dict = {}


def load_weights(path: str | Path | None = None) -> dict:
    """Read the network weights (the packaged ones by default, read once per process).

    Parameters
    ----------
    path : str or Path, optional
        An ``.npz`` written by :func:`sleuth.forensics.sctrain.save_weights`.

    Returns
    -------
    dict
        name -> float32 array (plus ``meta``, a JSON string, when present).
    """
    p = Path(path) if path else WEIGHTS
    key = str(p)
    if key not in _LOADED:
        if not p.is_file():
            raise FileNotFoundError(f"{p}: self-consistency weights not found (train them with 'sleuth train selfconsistency')")
        with np.load(p, allow_pickle=False) as z:
            _LOADED[key] = {k: (str(z[k]) if k == "meta" else z[k].astype(np.float32)) for k in z.files}
    return _LOADED[key]


def analyze(rgb: np.ndarray, weights: dict | None = None) -> Result:
    """Inconsistency map and score of one image.

    Parameters
    ----------
    rgb : numpy.ndarray
        uint8 HxWx3 image.
    weights : dict, optional
        Network weights (the packaged ones by default).

    Returns
    -------
    Result
        ``heat`` on the window grid, ``score`` = mean of the top 2% of the smoothed z.
    """
    check_size(rgb)
    w = load_weights() if weights is None else weights
    stride = 32 if rgb.shape[0] * rgb.shape[1] > LARGE_MP * 1e6 else 16
    e = window_embeddings(w, rgb, stride)
    ny, nx = e.shape[:2]
    rel = drop_border(_window_reliability(gray_f32(rgb), ny, nx, stride))
    if rel.sum() < MIN_BLOCKS:
        raise NotEnoughSignal("fewer than 16 textured 32x32 windows")
    flat = e.reshape(-1, e.shape[-1])
    c = robust_centre(flat[rel.ravel() > 0])
    d = (1.0 - flat @ c).reshape(ny, nx)
    z = np.maximum(robust_z(d, rel, min_scale=MIN_SCALE), 0)
    zsm = smooth(z, 3, rel)
    heat = np.clip((zsm - 1.5) / 3.0, 0, 1) * (rel > 0)
    return Result("self-consistency", heat=to_blocks(heat, stride), score=top_mean(zsm, rel, 0.02),
                  reliability=to_blocks(rel, stride), extra_maps={"z": to_blocks(zsm, stride)}, details={"window": PATCH, "stride": stride,
                                                  "median_distance": float(np.median(d[rel > 0]))})
