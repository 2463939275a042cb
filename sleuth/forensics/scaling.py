"""Image-scaling attack detection in the Decamouflage manner (Kim et al. 2021).

Design
------
An image-scaling attack changes only the pixels that a non-antialiased downscaler reads, on a
lattice with the scale ratio as period, so two cheap checks expose it:

* **Rescaling consistency** (white-box when the target size is known, else a list of common
  model input sizes: 128..512): downscale with nearest, bilinear and bicubic, and compare each
  with an antialiased (area) downscale of the same image. For a clean photo both are the same
  scene (grey-level correlation near 1); for an attack the plain downscale is the hidden
  target, a different picture. Score: 1 - the lowest correlation over sizes and methods,
  after a 5x5 Gaussian blur (sigma 1) of both downscales: on 408 clean development
  resizes the unblurred score reached 0.24 (nearest-neighbour aliasing of textured photos)
  against >= 0.60 for attacks; blurred, clean stays <= 0.033 and attacks >= 0.53.
* **Spectral check** (black-box): the modified pixels are outliers against their 3x3
  median, on a lattice; the log spectrum of the outlier indicator (|I - median3(I)| > 3 x its
  median + 4; centre crop <= 1024 px) is divided by its smoothed background and the highest
  peak outside the low-frequency disc is the score (for a JPEG the 8x8-grid frequencies are
  ignored). The plain residual's spectrum was dropped: on development photos a clean bicubic
  2.5x upscale reached the same peak (3.3-3.9) as attacks (3.0-3.9); the indicator keeps most
  upscales lower, but not all, so this check gets a conservative threshold and the
  consistency check carries the decision when the model's input size is known or common.

Each check is turned into a probability with a logistic whose centre and width were fixed on
the development half of the benchmark's clean and attacked photos (see bench/forensics.py);
the decision uses the larger of the two.
"""
from __future__ import annotations

import numpy as np

from .common import Result, check_size

DEFAULT_SIZES = (128, 160, 192, 224, 256, 299, 320, 384, 448, 512)
METHODS = ("nearest", "bilinear", "bicubic")
# logistic calibration (centre, width), fixed on the benchmark's development split
CAL_CONSISTENCY = (0.119, 0.019)  # halfway between dev clean p99.5 (0.026) and dev attack p0.5 (0.212)
CAL_SPECTRAL = (3.487, 0.1)  # dev clean p99.5 2.987 and attack p0.5 2.952 overlap: clean p99.5 + 0.5


def consistency(g: np.ndarray, sizes=None) -> tuple[float, dict]:
    import cv2

    from ..attacks.scaling import INTERP

    h, w = g.shape
    worst, arg = 0.0, {}
    cands = []
    for s in sizes or DEFAULT_SIZES:
        hw = (s, s) if isinstance(s, int) else (int(s[0]), int(s[1]))
        if hw[0] * 2 <= h and hw[1] * 2 <= w:
            cands.append(hw)
    for hw in cands:
        # a light blur on both sides compares content, not the aliasing of a textured clean photo
        ref = cv2.GaussianBlur(cv2.resize(g, (hw[1], hw[0]), interpolation=cv2.INTER_AREA).astype(np.float32), (5, 5), 1.0)
        ref = ref.ravel().astype(np.float64)
        ref = ref - ref.mean()
        for m in METHODS:
            d = cv2.GaussianBlur(cv2.resize(g, (hw[1], hw[0]), interpolation=INTERP[m]).astype(np.float32), (5, 5), 1.0)
            d = d.ravel().astype(np.float64)
            d = d - d.mean()
            rho = float((ref @ d) / (np.sqrt((ref @ ref) * (d @ d)) + 1e-6))
            if 1 - rho > worst:
                worst, arg = 1 - rho, {"size": list(hw), "method": m, "correlation": round(rho, 4)}
    return worst, arg


def spectral(g: np.ndarray, jpeg_grid: bool) -> float:
    import cv2

    h, w = g.shape
    c = 1024
    y0, x0 = max(0, (h - c) // 2), max(0, (w - c) // 2)
    g8 = np.ascontiguousarray(np.clip(g[y0: y0 + c, x0: x0 + c], 0, 255).astype(np.uint8))
    r = np.abs(g8.astype(np.float32) - cv2.medianBlur(g8, 3).astype(np.float32))
    r = (r > 3 * np.median(r) + 4).astype(np.float32)  # outliers: attacked pixels differ from their neighbours
    r = (r - r.mean()) * np.outer(np.hanning(r.shape[0]), np.hanning(r.shape[1]))
    spec = np.log(np.abs(np.fft.fft2(r)) + 1e-3).astype(np.float32)
    bg = cv2.blur(cv2.medianBlur(np.fft.fftshift(spec), 5), (15, 15))
    d = np.fft.fftshift(spec) - bg
    hh, ww = d.shape
    yy, xx = np.mgrid[0:hh, 0:ww]
    fy, fx = (yy - hh // 2), (xx - ww // 2)
    ok = (fy ** 2 + fx ** 2) >= 64
    if jpeg_grid:
        gy = np.abs((fy * 8 / hh) - np.round(fy * 8 / hh)) * hh / 8 <= 1.5
        gx = np.abs((fx * 8 / ww) - np.round(fx * 8 / ww)) * ww / 8 <= 1.5
        ok &= ~(gy & gx)
    return float(d[ok].max()) if ok.any() else 0.0


def _logistic(x: float, cal: tuple[float, float]) -> float:
    return float(1 / (1 + np.exp(-(x - cal[0]) / cal[1])))


def analyze(rgb: np.ndarray, is_jpeg: bool = False, sizes=None) -> Result:
    check_size(rgb)
    import cv2

    g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)  # uint8: resizes are exact to OpenCV's and 4x lighter than float
    c_score, arg = consistency(g, sizes)
    s_score = spectral(g, is_jpeg)
    p = max(_logistic(c_score, CAL_CONSISTENCY), _logistic(s_score, CAL_SPECTRAL))
    detected = p >= 0.5
    heat = np.full((max(1, rgb.shape[0] // 64), max(1, rgb.shape[1] // 64)), p if detected else 0.0, np.float32)
    return Result("scaling-attack", heat=heat, score=p, reliability=np.ones_like(heat),
                  details={"detected": detected, "consistency": round(c_score, 4), "spectral_peak": round(s_score, 3),
                           "worst": arg, "sizes_checked": "given" if sizes else "default"})
