"""Fusion: one localisation map and one integrity score from the forensic analyzers.

Design
------
* Per-analyzer probability: each raw score (z-scores, log-likelihood ratios, inlier counts)
  goes through a logistic centred on that analyzer's own threshold at 1% false alarms on
  pristine development photos, fitted by :func:`sleuth.forensics.decision.fit_analyzer_calibration`
  and read from the packaged ``sleuth/data/forensics/decision.json`` (never constants in
  source). An analyzer whose reliability flag is down counts half.
* Integrity score: the stacked decision (:mod:`.decision`), a logistic regression over all
  analyzers' image-level features, thresholded at 1% false alarms out of fold; the score is
  its probability moved on the logit scale so that the calibrated threshold sits at 0.5.
  Without a decision file the score falls back to the strongest analyzer (max p).
* Fused map = sum_i (p_i + 0.3) H_i / sum_i (p_i + 0.3): a mean of the maps weighted by
  confidence, where an analyzer that did not fire still counts 0.3 (the maps localise well
  even below the image-level operating point; the floor was chosen on development tampering
  against the confidence-scaled sum and the max, see docs/benchmarks.md). Flat or clipped
  areas stay dark because every analyzer's own map is zero there.
"""
from __future__ import annotations

import numpy as np

from .common import Result, upsample
from .decision import LOCALISERS, image_features, packaged

MAP_FLOOR = 0.3  # weight of an analyzer that did not fire, in the fused map


def analyzer_calibration(name: str) -> dict | None:
    """{"threshold", "width", "target_fpr"} of one analyzer from the packaged decision file, or None."""
    d = packaged()
    return None if d is None else d.analyzers.get(name)


def probability(r: Result) -> float:
    """Probability-like score of one analyzer's result: 0.5 at its own 1%-false-alarm threshold."""
    if r.status != "ok" or r.score is None:
        return 0.0
    if r.name == "scaling-attack":
        return float(r.score)
    if r.name == "jpeg-dq" and not r.details.get("double_compressed"):
        return 0.0
    if r.name == "copy-move" and r.score <= 0:
        return 0.0  # no verified clone at all
    cal = analyzer_calibration(r.name)
    if cal is None:
        return 0.0
    p = float(1.0 / (1.0 + np.exp(-np.clip((r.score - cal["threshold"]) / cal["width"], -50, 50))))
    return p if r.reliable or r.name == "jpeg-dq" else 0.5 * p


def stacked(results: dict[str, Result]) -> dict | None:
    """The calibrated image-level decision: {"score", "probability", "threshold", "target_fpr"} or None."""
    d = packaged()
    if d is None:
        return None
    names = [n for n in d.features if n.endswith(":ran")]
    x = image_features(results, tuple(n[: -len(":ran")] for n in names))
    p = float(d.probability(x)[0])
    t = d.threshold
    eps = 1e-9
    logit = np.log((p + eps) / (1 - p + eps)) - np.log((t + eps) / (1 - t + eps))
    return {"score": float(1 / (1 + np.exp(-logit))), "probability": p, "threshold": t, "target_fpr": d.target_fpr}


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
    st = stacked(results)
    score = st["score"] if st is not None else (max(probs.values()) if probs else 0.0)
    return float(score), np.clip(fused, 0, 1).astype(np.float32), probs
