"""Image-scaling attack detection (Decamouflage-style, Kim et al. 2021).

Design
------
An image-scaling attack changes only the pixels that a non-antialiased downscaler reads, on a
lattice with the scale ratio as period, so cheap checks expose it:

* **Rescaling consistency** (white-box when the target size is known, else a list of common
  model input sizes: 128..512): downscale with nearest, bilinear and bicubic, and compare each
  with an antialiased (area) downscale of the same image. For a clean photo both are the same
  scene (grey-level correlation near 1); for an attack the plain downscale is the hidden
  target, a different picture. Score: 1 - the lowest correlation over sizes and methods,
  after a 5x5 Gaussian blur (sigma 1) of both downscales (nearest-neighbour aliasing of
  textured clean photos otherwise reaches attack-like scores).
* **Area blockiness** (for attacks on ``INTER_AREA``, which reads every pixel; used only when
  the target size is given, see :func:`decide`): the smallest
  change of an image whose area downscale is the target adds one offset per source block, so
  the attacked image has steps on the block boundaries of the target grid. Score: log of the
  median absolute step across the boundaries over the median step elsewhere (rows and
  columns, the smaller of the two), the largest over the given sizes. Such an attack is
  visible at full size (the whole picture moves towards the target); the check says so.
* **Spectral check** (black-box): the modified pixels are outliers against their 3x3
  median, on a lattice; the log spectrum of the outlier indicator (|I - median3(I)| > 3 x its
  median + 4; centre crop <= 1024 px) is divided by its smoothed background and the highest
  peak outside the low-frequency disc is the score (for a JPEG the 8x8-grid frequencies are
  ignored). Clean upscales can reach attack-like peaks, so this check gets a conservative
  threshold and the consistency check carries the decision when the input size is known or common.

Each check becomes a probability with a logistic (centre, width) fitted by
:func:`fit_calibration` on development clean and attacked photos and stored in
``sleuth/data/forensics/scaling.json``; the decision uses the largest of the three.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .common import Result, check_size

DEFAULT_SIZES = (128, 160, 192, 224, 256, 299, 320, 384, 448, 512)
METHODS = ("nearest", "bilinear", "bicubic")
CHECKS = ("consistency", "blockiness", "spectral")
CAL_PATH = Path(__file__).resolve().parents[1] / "data" / "forensics" / "scaling.json"
_CAL: dict = {}


def calibration() -> dict:
    """{check: (centre, width)} from the packaged scaling.json (read once); empty when absent."""
    if "c" not in _CAL:
        _CAL["c"] = {k: tuple(v) for k, v in json.loads(CAL_PATH.read_text())["checks"].items()} if CAL_PATH.is_file() else {}
    return _CAL["c"]


def fit_calibration(clean: dict, attack: dict, meta: dict | None = None, path: str | Path | None = None) -> dict:
    """Fit (centre, width) per check from development scores and write scaling.json atomically.

    Where the clean 99.5th and the attack 0.5th percentiles separate, the centre is halfway
    between them; where they overlap the centre sits just above the highest clean score (by a
    tenth of the clean spread, max - median).

    Parameters
    ----------
    clean, attack : dict of str to list of float
        Scores per check on clean and attacked development images.
    meta : dict, optional
        Provenance to record (command, data manifest sha256); the date is added.
    path : str or Path, optional
        Destination (the packaged file by default).

    Returns
    -------
    dict
        The written content.
    """
    from ..util import atomic_write_text

    checks = {}
    for k in CHECKS:
        c = float(np.percentile(clean[k], 99.5))
        a = float(np.percentile(attack[k], 0.5))
        if a > c:
            checks[k] = [round((c + a) / 2, 4), round(max((a - c) / 10, 0.005), 4)]
        else:  # overlap: just above every clean development score
            top, med = float(np.max(clean[k])), float(np.median(clean[k]))
            checks[k] = [round(top + max(0.1 * (top - med), 1e-3), 4), round(max((top - med) / 20, 1e-3), 4)]
    out = {"checks": checks, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), **(meta or {}),
           "n_clean": len(clean[CHECKS[0]]), "n_attack": len(attack[CHECKS[0]])}
    p = Path(path) if path else CAL_PATH
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(p, json.dumps(out, indent=1) + "\n")
    _CAL.pop("c", None)
    return out


def blockiness(g: np.ndarray, hw: tuple[int, int]) -> float:
    """Log ratio of the median step across the area-downscale block boundaries of size ``hw``
    to the median step elsewhere (the smaller over rows and columns)."""
    g = g.astype(np.float32)
    h, w = g.shape
    out = []
    for axis, n, m in ((1, w, hw[1]), (0, h, hw[0])):
        d = np.abs(np.diff(g, axis=axis)).mean(axis=1 - axis)
        b = np.unique(np.round(np.arange(1, m) * n / m).astype(int) - 1)
        b = b[(b >= 0) & (b < d.size)]
        inner = np.ones(d.size, bool)
        inner[b] = False
        if not b.size or not inner.any():
            return 0.0
        out.append(float(np.log((np.median(d[b]) + 0.5) / (np.median(d[inner]) + 0.5))))
    return min(out)


def _candidates(h: int, w: int, sizes) -> list[tuple[int, int]]:
    cands = []
    for s in sizes or DEFAULT_SIZES:
        hw = (s, s) if isinstance(s, int) else (int(s[0]), int(s[1]))
        if hw[0] * 2 <= h and hw[1] * 2 <= w:
            cands.append(hw)
    return cands


def consistency(g: np.ndarray, sizes=None) -> tuple[float, dict]:
    import cv2

    from ..attacks.scaling import INTERP

    h, w = g.shape
    worst, arg = 0.0, {}
    for hw in _candidates(h, w, sizes):
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


def _logistic(x: float, cal: tuple[float, float] | None) -> float:
    if cal is None:
        return 0.0
    return float(1 / (1 + np.exp(-np.clip((x - cal[0]) / cal[1], -50, 50))))


def scores(rgb: np.ndarray, is_jpeg: bool = False, sizes=None) -> dict:
    """Raw scores of the three checks: {"consistency", "blockiness", "spectral", "worst"}."""
    import cv2

    g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)  # uint8: resizes are exact to OpenCV's and 4x lighter than float
    c_score, arg = consistency(g, sizes)
    blk = max([blockiness(g, hw) for hw in _candidates(g.shape[0], g.shape[1], sizes)] or [0.0])
    return {"consistency": c_score, "blockiness": blk, "spectral": spectral(g, is_jpeg), "worst": arg}


def decide(sc: dict, sizes_known: bool) -> tuple[float, dict]:
    """Calibrated probability of an attack from the checks' raw scores -> (p, p per check).

    Blockiness counts only when the target size is known: over the default size list, clean
    images whose own periodic structure (an 8x8 JPEG grid, an earlier upscale) falls on some
    candidate's block boundaries reach attack-like values.

    Parameters
    ----------
    sc : dict
        Raw scores from :func:`scores`.
    sizes_known : bool
        Whether the caller gave the model's input size(s).

    Returns
    -------
    (float, dict)
    """
    cal = calibration()
    ps = {k: _logistic(sc[k], cal.get(k)) for k in CHECKS if sizes_known or k != "blockiness"}
    return max(ps.values()), ps


def analyze(rgb: np.ndarray, is_jpeg: bool = False, sizes=None) -> Result:
    check_size(rgb)
    sc = scores(rgb, is_jpeg, sizes)
    cal = calibration()
    p, ps = decide(sc, bool(sizes))
    detected = p >= 0.5
    heat = np.full((max(1, rgb.shape[0] // 64), max(1, rgb.shape[1] // 64)), p if detected else 0.0, np.float32)
    return Result("scaling-attack", heat=heat, score=p, reliability=np.ones_like(heat),
                  details={"detected": detected, "consistency": round(sc["consistency"], 4),
                           "blockiness": round(sc["blockiness"], 4), "spectral_peak": round(sc["spectral"], 3),
                           "worst": sc["worst"], "sizes_checked": "given" if sizes else "default",
                           "check_p": {k: round(v, 4) for k, v in ps.items()}, "target_fpr": 0.01,
                           "calibrated": bool(cal)})
