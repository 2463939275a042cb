"""Calibration of the copy score: fitted by :func:`fit_calibration`, stored as data.

The copy score is a noisy-OR of a *global* logistic model (normalised primary similarity, PDQ
similarity) and a *local* one (log(1 + RANSAC inliers)), both fitted (scikit-learn
``LogisticRegression``) on a calibration split of real photos that the benchmark never uses.
``DECISION`` is the lowest score threshold whose precision over the calibration candidates is at
least the target (floored at 0.5). Hash-only indexes (no SSCD) keep a fixed prior. The fitted
values live in ``sleuth/data/copydetect/calibration.json`` together with the command, data
manifest hash and date that produced them (``bench/copydetect.py --calibrate`` refits them).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

PATH = Path(__file__).resolve().parents[1] / "data" / "copydetect" / "calibration.json"


def load(path: Path = PATH) -> dict[str, Any]:
    """The stored calibration document."""
    return json.loads(Path(path).read_text())


_DOC = load()
CALIBRATION: dict[str, dict[str, dict[str, float]]] = {
    "sscd": _DOC["sscd"], "sscd-distilled": _DOC["sscd"], "pdq": _DOC["hash_prior"], "phash": _DOC["hash_prior"]}
DECISION: float = float(_DOC["decision"])
DECISION_PRECISION: float = float(_DOC["decision_precision"])
DECISION_RECALL: float = float(_DOC["decision_recall"])
CALIBRATION_SOURCE: dict[str, Any] = dict(_DOC["source"])


def fit_calibration(X: np.ndarray, y: np.ndarray, n_positive_queries: int, *, precision: float = 0.95,
                    C: float = 10.0) -> dict[str, Any]:
    """Fit the copy-score weights and decision threshold.

    Parameters
    ----------
    X : ndarray, shape (n, 3)
        Per candidate: normalised similarity, PDQ similarity (0.5 when absent), log(1 + inliers).
    y : ndarray, shape (n,)
        1 where the candidate is the query's true reference.
    n_positive_queries : int
        Queries that have a true reference (the recall denominator).
    precision : float
        Precision the decision threshold must reach on these candidates.
    C : float
        Inverse regularisation strength of both logistic models.

    Returns
    -------
    dict
        ``sscd`` weights, ``decision``, ``decision_precision``, ``decision_recall`` and
        ``max_negative_inliers`` (the document :func:`save_calibration` stores, without its source).
    """
    from sklearn.linear_model import LogisticRegression

    X, y = np.asarray(X, float), np.asarray(y, int)
    lg = LogisticRegression(C=C, max_iter=2000).fit(X[:, :2], y)
    ll = LogisticRegression(C=C, max_iter=2000).fit(X[:, 2:], y)
    w = {"global": {"bias": round(float(lg.intercept_[0]), 4), "normalized": round(float(lg.coef_[0][0]), 4),
                    "pdq": round(float(lg.coef_[0][1]), 4)},
         "local": {"bias": round(float(ll.intercept_[0]), 4), "log_inliers": round(float(ll.coef_[0][0]), 4)}}
    p = 1 - (1 - lg.predict_proba(X[:, :2])[:, 1]) * (1 - ll.predict_proba(X[:, 2:])[:, 1])
    order = np.argsort(-p)
    prec = np.cumsum(y[order]) / np.arange(1, len(y) + 1)
    ok = np.where(prec >= precision)[0]
    thr = max(0.5, round(float(p[order][ok.max()]) if len(ok) else 0.5, 3))
    sel = p >= thr
    neg = X[y == 0, 2]
    return {"sscd": w, "decision": thr,
            "decision_precision": round(float(y[sel].mean()), 4) if sel.any() else None,
            "decision_recall": round(float(y[sel].sum() / max(1, n_positive_queries)), 4),
            "max_negative_inliers": int(np.expm1(neg.max())) if len(neg) else 0}


def save_calibration(fit: dict[str, Any], *, command: str, data: str, manifest_sha256: str,
                     path: Path = PATH) -> Path:
    """Store a :func:`fit_calibration` result with where it came from (atomically).

    Parameters
    ----------
    fit : dict
        Output of :func:`fit_calibration`.
    command, data, manifest_sha256 : str
        The command that ran, the data it used and the manifest's sha256.
    path : Path
        Destination (default: the package's calibration file).

    Returns
    -------
    Path
    """
    from ..util import atomic_write_text

    doc = {k: fit[k] for k in ("sscd", "decision", "decision_precision", "decision_recall")}
    doc["hash_prior"] = load(PATH)["hash_prior"]
    doc["source"] = {"command": command, "data": data, "manifest_sha256": manifest_sha256,
                     "date": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
                     "max_negative_inliers": fit.get("max_negative_inliers")}
    atomic_write_text(Path(path), json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return Path(path)
