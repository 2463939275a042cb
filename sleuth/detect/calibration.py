"""Calibration: Platt scaling, stacked fusion and thresholds at a stated false-positive rate.

Design
------
* Each detector outputs a raw logit. Its Platt map (a, b) is fitted on *out-of-fold* scores
  (5-fold cross-fitting on the development data), never on the scores of the rows it
  was trained on, so the calibrated probability is honest.
* The fusion is a logistic regression on the detectors' out-of-fold logits (stacking); it is
  itself a calibrated probability (multivariate Platt).
* The default decision threshold is the (1 - fpr) quantile of the out-of-fold fused scores of
  the development *real photos* (:func:`threshold_for_fpr`), so "is_ai" at the default
  threshold has a stated FPR on real photos; the test suite checks that the FPR holds on
  held-out reals within binomial sampling error.
"""
from __future__ import annotations

import numpy as np


def sigmoid(z):
    z = np.clip(np.asarray(z, np.float64), -50, 50)
    return 1.0 / (1.0 + np.exp(-z))


def logit(p, eps: float = 1e-6):
    p = np.clip(np.asarray(p, np.float64), eps, 1 - eps)
    return np.log(p / (1 - p))


def fit_platt(scores, y) -> tuple[float, float]:
    """Platt scaling with Platt's target smoothing; returns (a, b): p = sigmoid(a*s + b)."""
    from scipy.optimize import minimize

    s = np.asarray(scores, np.float64)
    y = np.asarray(y, np.float64)
    n1, n0 = y.sum(), (1 - y).sum()
    t = np.where(y > 0, (n1 + 1) / (n1 + 2), 1 / (n0 + 2))
    mu, sd = s.mean(), s.std() + 1e-9
    z = (s - mu) / sd

    def nll(p):
        q = sigmoid(p[0] * z + p[1])
        q = np.clip(q, 1e-12, 1 - 1e-12)
        return -np.sum(t * np.log(q) + (1 - t) * np.log(1 - q))

    r = minimize(nll, np.array([1.0, 0.0]), method="L-BFGS-B")
    a, b = r.x
    return float(a / sd), float(b - a * mu / sd)


def apply_platt(scores, ab) -> np.ndarray:
    return sigmoid(ab[0] * np.asarray(scores, np.float64) + ab[1])


def threshold_for_fpr(real_scores, fpr: float) -> float:
    """Smallest threshold t with at most floor(fpr * n) real scores strictly above t."""
    s = np.sort(np.asarray(real_scores, np.float64))
    if s.size == 0:
        return 0.5
    k = int(np.floor(fpr * s.size))
    return float(s[-1] if k <= 0 else s[-k - 1])


def fpr_interval(k: int, n: int, conf: float = 0.99) -> tuple[float, float]:
    """Clopper-Pearson interval for a false-positive count k out of n."""
    from scipy.stats import beta

    a = (1 - conf) / 2
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def fit_logistic(X, y, C: float = 1.0, balanced: bool = True) -> dict:
    """Standardised L2 logistic regression, deterministic (lbfgs); returns a JSON-able dict."""
    from sklearn.linear_model import LogisticRegression

    X = np.asarray(X, np.float64)
    mean = X.mean(0)
    scale = X.std(0) + 1e-6
    clf = LogisticRegression(C=C, max_iter=5000, class_weight="balanced" if balanced else None)
    clf.fit((X - mean) / scale, np.asarray(y))
    w = clf.coef_[0] / scale  # standardisation folded into the weights: logit = X @ w + b
    return {"w": w.tolist(), "b": float(clf.intercept_[0] - np.sum(clf.coef_[0] * mean / scale))}


def apply_logistic(lin: dict, X) -> np.ndarray:
    """Raw logit of a :func:`fit_logistic` model."""
    return np.asarray(X, np.float64) @ np.asarray(lin["w"], np.float64) + float(lin["b"])
