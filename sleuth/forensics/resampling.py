"""Resampling detection: periodic correlations left by interpolation (Popescu & Farid, Kirchner).

Design
------
Kirchner's fast variant (2008): a fixed linear predictor (the 3x3 kernel
[[-.25,.5,-.25],[.5,0,.5],[-.25,.5,-.25]]) gives a residual e; the "p-map"
p = exp(-e^2 / 2) is periodic where pixels were interpolated from a resampled grid. Each
64x64 window's p-map gets a Hann-windowed |FFT|. Instead of hard-coding the JPEG 8x8 grid
frequencies, each window's spectrum is divided by the *image's own median spectrum* (over
up to 512 reliable windows): peaks present everywhere (JPEG grid, a globally resampled
image) cancel and only local periodicities stand out, which is what localising a resampled
paste needs. Window feature: the largest ratio outside the 4-bin low-frequency disc, in log;
robust z over windows, averaged over 3x3 windows. Score: mean of the top 2%.
"""
from __future__ import annotations

import numpy as np

from .common import NotEnoughSignal, Result, block_reliability, check_size, gray_f32, robust_z, smooth, tiled_features, top_mean

WIN = 64
_K = np.array([[-0.25, 0.5, -0.25], [0.5, 0.0, 0.5], [-0.25, 0.5, -0.25]], np.float32)
_HANN = np.outer(np.hanning(WIN), np.hanning(WIN)).astype(np.float32)
_fy, _fx = np.meshgrid(np.fft.fftfreq(WIN) * WIN, np.fft.rfftfreq(WIN) * WIN, indexing="ij")
_ALLOWED = (_fy ** 2 + _fx ** 2) >= 16


def _spectra(g: np.ndarray) -> np.ndarray:
    """(gh, gw, WIN, WIN//2+1) log-magnitude spectra of the p-map windows."""
    import cv2

    e = g - cv2.filter2D(g, -1, _K, borderType=cv2.BORDER_REFLECT)
    p = np.exp(-0.5 * e * e)
    gh, gw = g.shape[0] // WIN, g.shape[1] // WIN
    w = p[: gh * WIN, : gw * WIN].reshape(gh, WIN, gw, WIN).swapaxes(1, 2)
    w = (w - w.mean(axis=(2, 3), keepdims=True)) * _HANN
    return np.log(np.abs(np.fft.rfft2(w)) + 1e-3).astype(np.float32)


def analyze(rgb: np.ndarray) -> Result:
    check_size(rgb)
    h, w = rgb.shape[:2]
    if h < 2 * WIN or w < 2 * WIN:
        raise NotEnoughSignal(f"image under {2 * WIN} px on a side: too few {WIN}x{WIN} windows")
    g_all = None
    # pass 1: the image's median window spectrum, from up to 512 windows spread over the image
    gh, gw = h // WIN, w // WIN
    step = max(1, int(np.ceil(np.sqrt(gh * gw / 512))))
    samples = []
    for by in range(0, gh, step):
        ys = slice(by * WIN, (by + 1) * WIN)
        row = gray_f32(np.ascontiguousarray(rgb[ys, : gw * WIN]))
        s = _spectra(row)[0, ::step]
        samples.append(s)
    med = np.median(np.concatenate(samples, axis=0), axis=0)

    def feats(tile):
        g = gray_f32(tile)
        s = _spectra(g) - med
        peak = np.where(_ALLOWED, s, -np.inf).reshape(s.shape[0], s.shape[1], -1).max(axis=2)
        rel = block_reliability(g, WIN)
        return np.stack([peak, rel], axis=-1)

    f = tiled_features(rgb, WIN, feats, tile=1024)
    del g_all
    rel = f[..., 1]
    if rel.sum() < 4:
        raise NotEnoughSignal("fewer than 4 textured 64x64 windows")
    z = robust_z(f[..., 0], rel)
    zsm = smooth(z.astype(np.float32), 3, rel) if min(z.shape) >= 3 else z
    heat = np.clip((zsm - 1.0) / 3.0, 0, 1) * (rel > 0)
    return Result("resampling", heat=heat.astype(np.float32), score=top_mean(zsm, rel, 0.02), reliability=rel,
                  details={"window": WIN})
