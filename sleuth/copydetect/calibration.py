"""Calibration constants of the copy score (written by ``bench/copydetect.py --calibrate``).

The copy score is a noisy-OR of a *global* logistic model (normalised primary similarity, PDQ
similarity) and a *local* one (log(1 + RANSAC inliers)), both fitted on the calibration split only
(57 references, 19 background and 342 transformed queries from the camera JPEGs,
Kodak24, Urban100 and CNNDetection real thumbnails of ../shared/data/aigen), never on the BSDS500
benchmark split. ``DECISION`` is the lowest score threshold with precision >= 0.95 over the
calibration candidates (floored at 0.5); ``DECISION_PRECISION`` / ``DECISION_RECALL`` are what it
reached there. Negative candidates there had at most 9 inliers.
"""
from __future__ import annotations

_W = {'global': {'bias': -7.5689, 'normalized': 21.2783, 'pdq': 3.3881}, 'local': {'bias': -11.3151, 'log_inliers': 4.1392}}
# hash-only indexes (no SSCD) keep a prior: Hamming similarity ~0.5 above background, or >= 12 inliers
_HASH = {"global": {"bias": -10.0, "normalized": 12.0, "pdq": 0.0}, "local": {"bias": -8.0, "log_inliers": 3.2}}
CALIBRATION: dict[str, dict[str, dict[str, float]]] = {"sscd": _W, "sscd-distilled": _W, "pdq": _HASH, "phash": _HASH}
DECISION = 0.5
DECISION_PRECISION = 1.0
DECISION_RECALL = 0.9825
CALIBRATION_SOURCE = "bench/copydetect.py --calibrate (calibration split, seed 11)"
