"""Calibration constants of the copy score (written by ``bench/copydetect.py --calibrate``).

Logistic weights over (normalised primary similarity, log(1+inliers) when >= 8 inliers else 0,
PDQ similarity), fitted on the calibration split only (57 references, 19 background and
342 transformed queries from the camera JPEGs, Kodak24, Urban100 and CNNDetection real
thumbnails of ../shared/data/aigen), never on the BSDS500 benchmark split. ``DECISION`` is the
lowest score threshold with precision >= 0.95 on the calibration candidates (floored at 0.5);
``DECISION_PRECISION`` / ``DECISION_RECALL`` are what it reached there.
"""
from __future__ import annotations

_W = {'bias': -8.603187513454893, 'normalized': 12.820629774844457, 'log_inliers': 1.9603491013912813, 'pdq': 3.5113540618202603}
# hash-only indexes (no SSCD) keep a prior: Hamming similarity ~0.5 above background, or >= 8 inliers
_HASH = {"bias": -10.0, "normalized": 12.0, "log_inliers": 1.6, "pdq": 0.0}
CALIBRATION: dict[str, dict[str, float]] = {"sscd": _W, "sscd-distilled": _W, "pdq": _HASH, "phash": _HASH}
DECISION = 0.5
DECISION_PRECISION = 1.0
DECISION_RECALL = 0.9649
CALIBRATION_SOURCE = "bench/copydetect.py --calibrate (calibration split, seed 11)"
