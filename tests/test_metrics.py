"""Benchmark metrics against hand-computed values."""
from __future__ import annotations

import numpy as np
import pytest

from sleuth.bench.metrics import best_pixel_f1, micro_ap, pixel_f1, recall_at_precision, threshold_at_fpr, tpr_at_fpr


def test_micro_ap_hand_computed():
    # ranked: TP, FP, TP, FP with 3 ground-truth pairs -> 1/3*1 + 1/3*2/3
    assert micro_ap([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0], 3) == pytest.approx(5 / 9)
    assert micro_ap([0.9, 0.8], [1, 1], 2) == pytest.approx(1.0)
    assert recall_at_precision([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0], 3, 0.6) == pytest.approx(2 / 3)
    assert recall_at_precision([0.9], [0], 1, 0.9) == 0.0


def test_threshold_at_fpr_bounds_false_positives():
    neg = np.arange(1000) / 1000.0
    t = threshold_at_fpr(neg, 0.01)
    assert (neg > t).mean() <= 0.01
    tpr, fpr, _ = tpr_at_fpr(np.r_[np.ones(10), np.zeros(1000)], np.r_[np.full(10, 2.0), neg], 0.01)
    assert tpr == 1.0 and fpr <= 0.01


def test_pixel_f1():
    mask = np.zeros((10, 10), bool)
    mask[:5] = True
    heat = mask.astype(float)
    assert pixel_f1(mask, heat, 0.5) == 1.0
    assert best_pixel_f1(mask, heat * 0.3)[0] == 1.0
    assert pixel_f1(mask, 1 - heat, 0.5) == 0.0


def test_pixel_f1_equals_sklearn():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(1)
    mask, heat = rng.random((60, 70)) > 0.8, rng.random((60, 70))
    for t in (0.2, 0.5, 0.9):
        assert pixel_f1(mask, heat, t) == pytest.approx(f1_score(mask.ravel(), heat.ravel() > t, zero_division=1.0))
