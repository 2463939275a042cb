"""Metrics shared by every benchmark: AUC, AP, µAP (ISC2021), TPR@FPR, recall@precision,
bit accuracy, pixel F1/AUC. Plain functions on arrays (scikit-image style)."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve


def roc_auc(y_true, scores) -> float:
    y = np.asarray(y_true)
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, np.asarray(scores, float)))


def average_precision(y_true, scores) -> float:
    y = np.asarray(y_true)
    if y.sum() == 0:
        return float("nan")
    return float(average_precision_score(y, np.asarray(scores, float)))


def threshold_at_fpr(negative_scores, fpr: float) -> float:
    """Threshold t such that the fraction of negatives with score > t is at most ``fpr``."""
    neg = np.sort(np.asarray(negative_scores, float))
    if neg.size == 0:
        return float("inf")
    k = int(np.floor(fpr * neg.size))  # number of negatives allowed above t
    if k <= 0:
        return float(neg[-1])
    return float(neg[-k - 1])


def tpr_at_fpr(y_true, scores, fpr: float, threshold: float | None = None) -> tuple[float, float, float]:
    """(TPR, empirical FPR, threshold). The threshold comes from the negatives unless given
    (give one fixed on development data to avoid tuning on the test set)."""
    y = np.asarray(y_true).astype(bool)
    s = np.asarray(scores, float)
    t = threshold_at_fpr(s[~y], fpr) if threshold is None else threshold
    tpr = float((s[y] > t).mean()) if y.any() else float("nan")
    efpr = float((s[~y] > t).mean()) if (~y).any() else float("nan")
    return tpr, efpr, t


def balanced_accuracy(y_true, pred) -> float:
    y = np.asarray(y_true).astype(bool)
    p = np.asarray(pred).astype(bool)
    return float(0.5 * ((p[y]).mean() + (~p[~y]).mean()))


def _pr_curve(scores, is_positive, n_ground_truth: int) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall after each prediction, predictions sorted by decreasing score.

    Not ``sklearn.metrics.precision_recall_curve``: the ISC2021 definition divides recall by
    *all* ground-truth pairs, including those no method predicted, and steps once per
    prediction (sklearn merges tied scores and knows only the predicted positives).
    """
    s = np.asarray(scores, float)
    tp = np.asarray(is_positive, bool)[np.argsort(-s, kind="stable")]
    ntp = np.cumsum(tp)
    return ntp / np.arange(1, len(tp) + 1), ntp / n_ground_truth


def micro_ap(scores, is_positive, n_ground_truth: int) -> float:
    """Micro average precision as in facebookresearch/isc2021 ``isc/metrics.py``.

    ``scores``/``is_positive`` are all predicted (query, reference) pairs pooled across queries;
    ``n_ground_truth`` is the number of query->reference ground-truth pairs (queries without a
    reference in the index count only as sources of false positives).
    """
    if n_ground_truth <= 0:
        return float("nan")
    precision, recall = _pr_curve(scores, is_positive, n_ground_truth)
    # isc2021: sum over recall increments of precision (rectangle rule on the PR curve)
    delta_recall = np.diff(np.concatenate([[0.0], recall]))
    return float(np.sum(delta_recall * precision))


def recall_at_precision(scores, is_positive, n_ground_truth: int, precision: float = 0.9) -> float:
    if n_ground_truth <= 0 or np.asarray(scores).size == 0:
        return float("nan")
    prec, rec = _pr_curve(scores, is_positive, n_ground_truth)
    ok = prec >= precision
    return float(rec[ok].max()) if ok.any() else 0.0


def bit_accuracy(sent, received) -> float:
    a = np.asarray(sent).astype(bool).ravel()
    b = np.asarray(received).astype(bool).ravel()
    return float((a == b).mean())


def pixel_f1(mask_true, heat, threshold: float) -> float:
    """Pixel F1 of ``heat > threshold`` against a boolean mask (1.0 when both are empty).

    Equals ``sklearn.metrics.f1_score(mask, heat > t, zero_division=1.0)`` (a test checks it);
    written with NumPy counts because sklearn's input validation made it about 80x slower per
    threshold on a 1 MP map, and :func:`best_pixel_f1` evaluates 50 thresholds per image.
    """
    t = np.asarray(mask_true).astype(bool).ravel()
    p = (np.asarray(heat, float).ravel() > threshold)
    tp = np.sum(t & p)
    fp = np.sum(~t & p)
    fn = np.sum(t & ~p)
    return float(2 * tp / (2 * tp + fp + fn)) if (tp + fp + fn) else 1.0


def best_pixel_f1(mask_true, heat, n_thresholds: int = 50) -> tuple[float, float]:
    """(best F1, its threshold) over thresholds spread on the heatmap's value range."""
    h = np.asarray(heat, float)
    qs = np.unique(np.quantile(h, np.linspace(0.0, 0.999, n_thresholds)))
    best = (0.0, float(qs[0]) if qs.size else 0.5)
    for q in qs:
        f = pixel_f1(mask_true, h, float(q))
        if f > best[0]:
            best = (f, float(q))
    return best


def pixel_auc(mask_true, heat, max_pixels: int = 200_000, seed: int = 0) -> float:
    t = np.asarray(mask_true).astype(bool).ravel()
    h = np.asarray(heat, float).ravel()
    if t.size > max_pixels:
        idx = np.random.default_rng(seed).choice(t.size, max_pixels, replace=False)
        t, h = t[idx], h[idx]
    return roc_auc(t, h)


def median_and_iqr(values) -> tuple[float, float, float]:
    v = np.asarray(values, float)
    return float(np.median(v)), float(np.percentile(v, 25)), float(np.percentile(v, 75))


def roc_points(y_true, scores):
    return roc_curve(np.asarray(y_true), np.asarray(scores, float))
