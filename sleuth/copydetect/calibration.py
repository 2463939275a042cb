"""Calibration constants of the copy score (written by ``bench/copydetect.py --calibrate``).

Logistic weights over (normalised primary similarity, log(1+inliers), PDQ similarity), fitted on
the calibration split only (never on the BSDS500 benchmark split). ``DECISION`` is the score
threshold; ``DECISION_PRECISION`` the precision it reached on the calibration split.
"""
from __future__ import annotations

# placeholder prior until calibrated: SSCD cosine ~0.5 above background, or >= 8 RANSAC inliers
CALIBRATION: dict[str, dict[str, float]] = {
    "sscd": {"bias": -4.0, "normalized": 9.0, "log_inliers": 1.6, "pdq": 0.0},
    "sscd-distilled": {"bias": -4.0, "normalized": 9.0, "log_inliers": 1.6, "pdq": 0.0},
    "pdq": {"bias": -10.0, "normalized": 12.0, "log_inliers": 1.6, "pdq": 0.0},
    "phash": {"bias": -10.0, "normalized": 12.0, "log_inliers": 1.6, "pdq": 0.0},
}
DECISION = 0.5
DECISION_PRECISION = float("nan")
CALIBRATION_SOURCE = "prior (not yet fitted)"
