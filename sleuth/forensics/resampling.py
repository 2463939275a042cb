"""Resampling detection: periodic traces of interpolation in the second derivative.

Design
------
Interpolation makes the variance of the second derivative periodic with the resampling
period (Gallagher 2005; the same periodicity Popescu & Farid's p-map shows). For each 64x64
window, |d2/dx2| is averaged over the window's rows (and |d2/dy2| over its columns), giving
two 64-sample signals whose Hann-windowed log spectra are kept (33 bins each). Instead of
hard-coding the JPEG 8x8 grid frequencies, each window's spectrum is divided by the
*image's own median spectrum*: peaks present everywhere (JPEG grid, a globally resampled
image) cancel and only local periodicities stand out, which is what localising a resampled
paste needs (each window's log spectrum is first centred on its own median above 6/64, so
busy and smooth windows are comparable). Window feature: the largest excess at >= 6/64 cycles per pixel (below that,
image content dominates), x and y summed; robust z over windows taken every 32 px
(no further smoothing: a paste is often only a few windows wide).
Downsampling leaves little periodicity and is mostly missed, as in the literature.
The first attempt, Kirchner's p-map with a fixed sigma, showed no peak at all on the same
windows after JPEG 90 and was dropped.
"""
from __future__ import annotations

import numpy as np

from .common import NotEnoughSignal, Result, block_reliability, check_size, gray_f32, robust_z, top_mean

WIN = 64
STEP = 32
NB = WIN // 2 + 1
KMIN = 6
_HANN = np.hanning(WIN).astype(np.float32)


def _features(tile: np.ndarray) -> np.ndarray:
    g = gray_f32(tile)
    h, w = g.shape
    d2x = np.zeros_like(g)
    d2y = np.zeros_like(g)
    d2x[:, 1:-1] = np.abs(g[:, 2:] - 2 * g[:, 1:-1] + g[:, :-2])
    d2y[1:-1, :] = np.abs(g[2:] - 2 * g[1:-1] + g[:-2])
    gh, gw = h // WIN, w // WIN
    wx = d2x[: gh * WIN, : gw * WIN].reshape(gh, WIN, gw, WIN).swapaxes(1, 2)
    wy = d2y[: gh * WIN, : gw * WIN].reshape(gh, WIN, gw, WIN).swapaxes(1, 2)
    sx = wx.mean(axis=2)  # (gh, gw, WIN): signal along x
    sy = wy.mean(axis=3)  # signal along y
    out = []
    for s in (sx, sy):
        s = (s - s.mean(axis=-1, keepdims=True)) * _HANN
        ls = np.log(np.abs(np.fft.rfft(s, axis=-1)) + 1e-3)
        out.append(ls - np.median(ls[..., KMIN:], axis=-1, keepdims=True))  # whiten: content level differs per window
    rel = block_reliability(g, WIN)[..., None]
    return np.concatenate(out + [rel], axis=-1).astype(np.float32)


def _features_stride(tile: np.ndarray) -> np.ndarray | None:
    """Windows of 64 px every 32 px: (gh, gw, K) on the 32-px grid (the 4 interleaved 64-px grids);
    None when the tile holds no whole window."""
    h, w = tile.shape[:2]
    gh, gw = (h - WIN) // STEP + 1, (w - WIN) // STEP + 1
    out = None
    for oy in (0, STEP):
        for ox in (0, STEP):
            if h - oy < WIN or w - ox < WIN:
                continue
            f = _features(np.ascontiguousarray(tile[oy:, ox:]))
            if out is None:
                out = np.zeros((gh, gw, f.shape[-1]), np.float32)
            out[oy // STEP:: 2, ox // STEP:: 2][: f.shape[0], : f.shape[1]] = f[: (gh - oy // STEP + 1) // 2, : (gw - ox // STEP + 1) // 2]
    return out


def analyze(rgb: np.ndarray) -> Result:
    import cv2

    check_size(rgb)
    h, w = rgb.shape[:2]
    if h < 2 * WIN or w < 2 * WIN:
        raise NotEnoughSignal(f"image under {2 * WIN} px on a side: too few {WIN}x{WIN} windows")
    gh, gw = (h - WIN) // STEP + 1, (w - WIN) // STEP + 1
    f = np.zeros((gh, gw, 2 * NB + 1), np.float32)
    tile = 1024
    for y0 in range(0, gh * STEP, tile):
        for x0 in range(0, gw * STEP, tile):
            part = _features_stride(np.ascontiguousarray(rgb[y0: y0 + tile + STEP, x0: x0 + tile + STEP]))
            if part is None:
                continue
            by, bx = y0 // STEP, x0 // STEP
            ny, nx = min(part.shape[0], gh - by, tile // STEP), min(part.shape[1], gw - bx, tile // STEP)
            f[by: by + ny, bx: bx + nx] = part[:ny, :nx]
    rel = f[..., -1]
    if rel.sum() < 4:
        raise NotEnoughSignal("fewer than 4 textured 64x64 windows")
    spx, spy = f[..., :NB], f[..., NB: 2 * NB]
    m = rel > 0
    peak = np.zeros(rel.shape, np.float64)
    for sp in (spx, spy):
        med = np.median(sp[m], axis=0)
        peak = peak + (sp - med)[..., KMIN:].max(axis=-1)
    z = robust_z(peak, rel) * m
    # window (i, j) covers 32-px blocks (i..i+1, j..j+1): spread each window over its 4 blocks
    zb = cv2.resize(z.astype(np.float32), (gw + 1, gh + 1), interpolation=cv2.INTER_LINEAR)
    heat = np.clip((zb - 1.0) / 3.0, 0, 1)
    relb = cv2.resize(rel, (gw + 1, gh + 1), interpolation=cv2.INTER_NEAREST)
    pad = ((0, h // STEP - heat.shape[0]), (0, w // STEP - heat.shape[1]))
    if pad[0][1] >= 0 and pad[1][1] >= 0:
        heat, relb = np.pad(heat, pad, mode="edge"), np.pad(relb, pad, mode="edge")
    return Result("resampling", heat=heat.astype(np.float32), score=top_mean(z, rel, 0.02), reliability=relb,
                  details={"window": WIN, "step": STEP})
