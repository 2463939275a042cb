"""Reliability flags: inputs on which no detector's score should be read as a verdict.

Design
------
Flags (any flag -> reliability "low", verdict "uncertain", the score is still given):

* ``tiny``: shorter side under 64 px: band ``not-enough-signal`` (the crop is mostly padding).
* ``small``: shorter side under 256 px: outside what the calibration covers well (thumbnails).
* ``flat``: more than 70% of pixels have a grey-level gradient under 2 (posters, blank
  frames, logos): neither CLIP semantics nor noise residuals carry information there.
* ``screenshot``: rendered content: over 40% of horizontally adjacent pixels exactly equal
  *and* fewer than 4096 distinct colours in the centre 256x256, or an alpha channel with
  transparent pixels (UI exports).
* ``heavy-compression``: JPEG whose estimated IJG quality (luma quantisation table against the
  standard table) is under 50, or under 0.15 bits per pixel: the high-frequency traces that
  spectral and NPR rely on are quantised away.
* ``crop-disagreement`` (added by the detector, head format 2; it only turns a positive decision
  into "uncertain"): the crops' tower logits spread more
  than the 99th percentile of the development real photos' spread.
Natural photos at JPEG 75-95 trip none of these (tested on synthetic fixtures).
"""
from __future__ import annotations

import numpy as np

_STD_LUMA = np.array([16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
                      14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
                      49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], float)


def jpeg_quality(img) -> float | None:
    """Estimated IJG quality of a JPEG's luma table, or None for other formats."""
    q = getattr(img.pil, "quantization", None) if img.is_jpeg else None
    if not q or 0 not in q:
        return None
    t = np.asarray(q[0], float)
    if t.size != 64:
        return None
    # table entries are in zig-zag order in Pillow; compare sorted values (order-free)
    scale = float(np.mean(np.sort(t) / np.sort(_STD_LUMA))) * 100.0
    qual = (200.0 - scale) / 2.0 if scale <= 100 else 5000.0 / scale
    return float(np.clip(qual, 1, 100))


def assess(img) -> dict:
    import cv2

    flags, facts = [], {}
    h, w = img.height, img.width
    if min(h, w) < 64:
        flags.append("tiny")
    elif min(h, w) < 256:
        flags.append("small")
    g = img.gray
    if g.size:
        gx = np.abs(np.diff(g.astype(np.int16), axis=1))
        gy = np.abs(np.diff(g.astype(np.int16), axis=0))
        grad = np.maximum(gx[:-1, :] if gx.shape[0] > 1 else gx, gy[:, :-1] if gy.shape[1] > 1 else gy) if min(h, w) > 1 else gx
        flat = float((grad < 2).mean()) if grad.size else 1.0
        facts["flat_fraction"] = round(flat, 3)
        if flat > 0.7:
            flags.append("flat")
    c = img.rgb[max(0, h // 2 - 128):h // 2 + 128, max(0, w // 2 - 128):w // 2 + 128]
    if c.size:
        eq = float(np.all(c[:, 1:] == c[:, :-1], axis=2).mean()) if c.shape[1] > 1 else 1.0
        ncol = int(len(np.unique(c.reshape(-1, 3).astype(np.uint32) @ np.array([65536, 256, 1], np.uint32))))
        facts["equal_neighbours"], facts["colours"] = round(eq, 3), ncol
        transparent = img.alpha is not None and bool((img.alpha < 250).mean() > 0.01)
        if (eq > 0.4 and ncol < 4096) or transparent:
            flags.append("screenshot")
    q = jpeg_quality(img)
    if q is not None:
        facts["jpeg_quality"] = round(q, 1)
        bpp = 8.0 * len(img.data) / max(h * w, 1) if img.data else None
        if bpp is not None:
            facts["bits_per_pixel"] = round(bpp, 3)
        if q < 50 or (bpp is not None and bpp < 0.15):
            flags.append("heavy-compression")
    del cv2
    return {"level": "low" if flags else "ok", "flags": flags, **facts}


BANDS = ("likely-ai", "uncertain", "no-ai-signal", "not-enough-signal")


def band(prob: float, threshold: float, threshold_low: float | None, rel: dict, short_side: int) -> str:
    """Decision band of a calibrated probability (edges documented in docs/detect.md).

    Parameters
    ----------
    prob : float
        Calibrated probability of AI generation.
    threshold : float
        Decision threshold (target FPR on real photos).
    threshold_low : float or None
        Lower band edge (5% FPR); None: no grey zone.
    rel : dict
        Output of :func:`assess` (``flags``).
    short_side : int
        Shorter image side in pixels.

    Returns
    -------
    str
        One of BANDS.
    """
    if short_side < 64:
        return "not-enough-signal"
    if prob > threshold:
        return "uncertain" if rel.get("flags") else "likely-ai"
    if threshold_low is not None and prob > threshold_low:
        return "uncertain"
    return "no-ai-signal"
