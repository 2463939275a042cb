"""Fusion: one localisation map and one integrity score from the forensic analyzers.

Design
------
Each analyzer's raw score lives on its own scale (z-scores, log-likelihood ratios, inlier
counts), so each is mapped to a probability-like value with a logistic (centre, width). The
centres are the scores that about 1% of the *pristine development* photos exceed (never the
images reported), so every analyzer says p >= 0.5 on roughly one pristine photo in a hundred.
An analyzer whose reliability flag is down (e.g. ELA and noise on a JPEG saved below quality
60, where compression has erased the noise) counts half.

* integrity score = max_i p_i: "the strongest analyzer", readable and bounded, and its false
  alarms are at most the sum of the analyzers' (about 1% each by construction).
* fused map = sum_i (p_i + 0.3) H_i / sum_i (p_i + 0.3): a mean of the maps weighted by
  confidence, where an analyzer that did not fire still counts 0.3 (the maps localise well
  even below the 1% image-level operating point). On 40 development tamperings its mean pixel
  F1 at one fixed threshold was 0.65, against 0.39 for the confidence-scaled sum
  sum_i p_i H_i / max(1, sum_i p_i) used first, 0.64 with a 0.1 floor and 0.61 for the max.
  Flat or clipped areas stay dark because every analyzer's own map is zero there.
"""
from __future__ import annotations

import numpy as np

from .common import Result, upsample

# (centre, width) per analyzer, fixed on the development split by bench/forensics.py --calibrate
CALIBRATION: dict[str, tuple[float, float]] = {
    # centre = 99th percentile of 140 pristine development photos, width = (p99 - p90) / 4;
    # copy-move also counts the odd COVERAGE/NoSo originals (similar-but-genuine objects)
    "ela": (8.262, 0.444),
    "noise": (6.608, 0.745),
    "jpeg-ghost": (14.898, 0.933),
    "jpeg-dq": (1.192, 0.18),
    "copy-move": (13.257, 3.314),
    "resampling": (4.665, 0.232),
}
LOCALISERS = tuple(CALIBRATION)
MAP_FLOOR = 0.3  # weight of an analyzer that did not fire, in the fused map


def probability(r: Result) -> float:
    if r.status != "ok" or r.score is None:
        return 0.0
    if r.name == "scaling-attack":
        return float(r.score)
    if r.name == "jpeg-dq" and not r.details.get("double_compressed"):
        return 0.0
    if r.name == "copy-move" and r.score <= 0:
        return 0.0  # no verified clone at all
    c, w = CALIBRATION.get(r.name, (1.0, 1.0))
    p = float(1.0 / (1.0 + np.exp(-(r.score - c) / w)))
    return p if r.reliable or r.name == "jpeg-dq" else 0.5 * p


def fuse(results: dict[str, Result], h: int, w: int, map_size: tuple[int, int] | None = None) -> tuple[float | None, np.ndarray, dict]:
    """-> (integrity score or None when nothing could be analysed, fused map, per-analyzer p)."""
    mh, mw = map_size or (h, w)
    probs = {n: probability(r) for n, r in results.items()}
    usable = [n for n, r in results.items() if r.status == "ok"]
    if not usable:
        return None, np.zeros((mh, mw), np.float32), probs
    num = np.zeros((mh, mw), np.float32)
    tot = 0.0
    for n in LOCALISERS:
        r = results.get(n)
        if r is None or r.status != "ok" or r.heat is None:
            continue
        wgt = probs[n] + MAP_FLOOR
        num += wgt * upsample(r.heat, mh, mw)
        tot += wgt
    fused = num / max(tot, 1e-6)
    score = max(probs.values()) if probs else 0.0
    return float(score), np.clip(fused, 0, 1).astype(np.float32), probs
