"""Calibrated image-level decision: a stacked classifier over the analyzers' image-level features.

Design
------
* Features (:func:`image_features`): for every localiser its raw score on a compressed scale
  (log1p of the positive part for the z-score-like ones), whether it ran, whether it was
  reliable, and four statistics of its map (share above 0.5, mean of the top 5% and 15%,
  largest connected share above 0.5: a tampered region covers a few per cent of the image,
  more than the 2% the raw scores average); plus the JPEG context (is a JPEG, last quality,
  double compression found) and the geometry and verification of copy-move's best transform
  (:func:`copymove_features`). Missing analyzers (skipped, not enough signal) give zeros and a
  "ran" flag of 0, so one fixed-length vector describes every image.
* Model: the candidate with the best out-of-fold TPR at the target false-alarm rate among
  L2 logistic regressions (standardised, class-balanced, a few strengths) and scikit-learn's
  HistGradientBoostingClassifier (200 trees of 15 leaves). Either is stored as plain numbers
  in a JSON data file (the trees as node arrays) and evaluated with NumPy at scan time
  (:class:`Decision`): no pickle, no scikit-learn at inference. Near the 1% point the
  analyzers' evidence combines non-linearly (one strong cue, or several weak ones on the
  same region), which trees capture and a linear stack does not.
* Training data: generated tampering of real photos (splice with another JPEG history,
  rotated/scaled copy-move, OpenCV inpainting, resampled paste, recoloured region) and the
  pristine twins of the same hosts; the caller (bench/forensics.py ``--calibrate``) makes them
  from the development half of the hosts only.
* Threshold: out-of-fold scores (group k-fold over hosts, so a host's pristine twin and its
  tamperings never sit on both sides) of the pristine development images; the threshold is the
  one that at most ``target_fpr`` of them exceed. The final model is refitted on all
  development images; the threshold stays the out-of-fold one (a refit on more data scores
  its own training pristine images lower than new ones, so the in-sample quantile is biased).
* Per-analyzer calibration (:func:`fit_analyzer_calibration`): each analyzer's own threshold at
  the same false-alarm rate on the same pristine images and a logistic width
  (p99 - p90) / 4, so each analyzer's item says p >= 0.5 above its own 1% point.
* The fitted file records the command, the sha256 of the data manifests it read and the date.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .common import Result

LOCALISERS = ("ela", "noise", "jpeg-ghost", "jpeg-dq", "copy-move", "resampling", "self-consistency")
TARGET_FPR = 0.01
C_GRID = (0.01, 0.1, 1.0)
DEFAULT_PATH = Path(__file__).resolve().parents[1] / "data" / "forensics" / "decision.json"
_LOG_SCORES = {"ela", "noise", "jpeg-ghost", "copy-move", "resampling", "consistency", "dense-copy-move", "self-consistency"}


PER_ANALYZER = ("ran", "score", "reliable", "area", "top5", "top15", "blob")
COPY_MOVE_EXTRA = ("inliers", "verified", "dense_fraction", "log_scale", "rotation", "transforms", "block_votes")


def feature_names(analyzers=LOCALISERS) -> list[str]:
    """Names of the columns :func:`image_features` returns, in order.

    Parameters
    ----------
    analyzers : sequence of str
        Localiser names whose results are stacked.

    Returns
    -------
    list of str
    """
    return ([f"{n}:{k}" for n in analyzers for k in PER_ANALYZER] + ["jpeg", "last_quality", "double_compressed"]
            + [f"copy-move:{k}" for k in COPY_MOVE_EXTRA])


def _score(name: str, r: Result) -> float:
    s = float(r.score or 0.0)
    if name == "jpeg-dq" and not r.details.get("double_compressed"):
        return 0.0
    return float(np.log1p(max(s, 0.0))) if name in _LOG_SCORES else s


def map_stats(heat: np.ndarray | None, reliability: np.ndarray | None = None) -> list[float]:
    """[share above 0.5, mean of the top 5%, mean of the top 15%, largest connected share above 0.5]
    of a heatmap (over reliable cells when a reliability map of the same shape is given)."""
    import cv2

    if heat is None or heat.size == 0:
        return [0.0, 0.0, 0.0, 0.0]
    h = np.asarray(heat, np.float32)
    v = h[reliability > 0] if reliability is not None and reliability.shape == h.shape and (reliability > 0).any() else h.ravel()
    top = np.sort(v)[::-1]
    t5 = float(top[: max(1, int(0.05 * top.size))].mean())
    t15 = float(top[: max(1, int(0.15 * top.size))].mean())
    on = (h > 0.5).astype(np.uint8)
    blob = 0.0
    if on.any():
        n, _, stats, _ = cv2.connectedComponentsWithStats(on, connectivity=8)
        blob = float(stats[1:, cv2.CC_STAT_AREA].max() / h.size) if n > 1 else 0.0
    return [float(on.mean()), t5, t15, blob]


def analyzer_features(name: str, r: Result | None) -> list[float]:
    """The :data:`PER_ANALYZER` columns of one analyzer's result (zeros when it did not run).

    Parameters
    ----------
    name : str
        Analyzer name (selects the score's scale).
    r : Result or None
        Its result on one image, with its heatmap.

    Returns
    -------
    list of float
    """
    if r is None or r.status != "ok" or r.score is None:
        return [0.0] * len(PER_ANALYZER)
    return [1.0, _score(name, r), float(bool(r.reliable))] + map_stats(r.heat, r.reliability)


def context_features(results: dict[str, Result]) -> list[float]:
    """[is a JPEG, last quality / 100, double compression found] from the JPEG analyzers' results.

    Parameters
    ----------
    results : dict of str to Result
        Per-analyzer results of one image.

    Returns
    -------
    list of float
    """
    dq, gh = results.get("jpeg-dq"), results.get("jpeg-ghost")
    q = None
    for r in (dq, gh):
        if r is not None and r.details.get("last_quality") is not None:
            q = r.details["last_quality"]
    dc = float(bool(dq is not None and dq.details.get("double_compressed")))
    return [float(q is not None), (q or 0) / 100.0, dc]


def copymove_features(r: Result | None) -> list[float]:
    """The :data:`COPY_MOVE_EXTRA` columns: the geometry and verification of copy-move's best
    transform (inliers, verified inliers, dense fraction, |log scale|, |rotation| / 30 deg), the
    number of transforms and the block-matching votes (log1p for counts). A clone verifies
    densely under one transform; a similar-but-genuine object (COVERAGE's originals) matches
    keypoints that do not correlate pixel for pixel.

    Parameters
    ----------
    r : Result or None
        The copy-move result of one image.

    Returns
    -------
    list of float
    """
    if r is None or r.status != "ok":
        return [0.0] * len(COPY_MOVE_EXTRA)
    ts = r.details.get("transforms") or []
    votes = float(np.log1p(float(r.details.get("block_votes") or 0)))
    if not ts:
        return [0.0] * (len(COPY_MOVE_EXTRA) - 1) + [votes]
    t = max(ts, key=lambda t: (t.get("score", 0), t.get("verified", 0)))
    return [float(np.log1p(t.get("inliers", 0))), float(np.log1p(t.get("verified", 0))), float(t.get("dense_fraction", 0.0)),
            abs(float(np.log(max(t.get("scale", 1.0), 1e-3)))), abs(float(t.get("rotation_deg", 0.0))) / 30.0,
            float(np.log1p(len(ts))), votes]


def image_features(results: dict[str, Result], analyzers=LOCALISERS) -> np.ndarray:
    """One fixed-length feature vector from the analyzers' results on one image.

    Parameters
    ----------
    results : dict of str to Result
        Per-analyzer results (as :func:`sleuth.forensics.evidence.analyze_image` returns),
        with their heatmaps.
    analyzers : sequence of str
        Localisers to stack (missing ones count as not run).

    Returns
    -------
    numpy.ndarray
        float64 vector, columns named by :func:`feature_names`.
    """
    f = [v for n in analyzers for v in analyzer_features(n, results.get(n))]
    return np.asarray(f + context_features(results) + copymove_features(results.get("copy-move")), np.float64)


@dataclass
class Decision:
    """A fitted stacked decision: standardisation, logistic weights and a threshold."""

    features: list
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float
    target_fpr: float
    analyzers: dict
    meta: dict
    kind: str = "lr"
    trees: list | None = None
    baseline: float = 0.0

    def probability(self, x: np.ndarray) -> np.ndarray:
        """Stacked probability of manipulation for feature rows ``x`` (n, d) or (d,).

        Parameters
        ----------
        x : numpy.ndarray
            Feature rows from :func:`image_features`.

        Returns
        -------
        numpy.ndarray
            Probabilities in [0, 1], one per row.
        """
        x = np.atleast_2d(np.asarray(x, np.float64))
        if self.kind == "hgb":
            return 1.0 / (1.0 + np.exp(-(self.baseline + sum(_tree_value(t, x) for t in self.trees or []))))
        z = (x - self.mean) / self.scale
        return 1.0 / (1.0 + np.exp(-(z @ self.coef + self.intercept)))

    def to_json(self) -> dict:
        return {"features": list(self.features), "kind": self.kind, "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "intercept": self.intercept, "threshold": self.threshold,
                "target_fpr": self.target_fpr, "analyzers": self.analyzers, "baseline": self.baseline,
                **self.meta, "trees": self.trees or []}


def _tree_value(t: dict, x: np.ndarray) -> np.ndarray:
    """Leaf values of one exported gradient-boosting tree for rows ``x`` (vectorised descent)."""
    feat, thr = np.asarray(t["feature"]), np.asarray(t["threshold"])
    left, right, leaf = np.asarray(t["left"]), np.asarray(t["right"]), np.asarray(t["leaf"], bool)
    miss_left, value = np.asarray(t["missing_left"], bool), np.asarray(t["value"])
    node = np.zeros(len(x), int)
    rows = np.arange(len(x))
    for _ in range(len(feat)):
        active = ~leaf[node]
        if not active.any():
            break
        v = x[rows, feat[node]]
        go_left = np.where(np.isnan(v), miss_left[node], v <= thr[node])
        node = np.where(active, np.where(go_left, left[node], right[node]), node)
    return value[node]


def _export_hgb(model) -> tuple[list, float]:
    """Trees of a fitted binary HistGradientBoostingClassifier as plain lists (numeric features only)."""
    trees = []
    for (pred,) in model._predictors:
        n = pred.nodes
        trees.append({"feature": n["feature_idx"].tolist(), "threshold": n["num_threshold"].tolist(),
                      "left": n["left"].tolist(), "right": n["right"].tolist(), "leaf": n["is_leaf"].astype(int).tolist(),
                      "missing_left": n["missing_go_to_left"].astype(int).tolist(), "value": n["value"].tolist()})
    return trees, float(np.ravel(model._baseline_prediction)[0])


def load(path: str | Path | None = None) -> Decision | None:
    """Read a fitted decision file (the packaged one by default); None when absent.

    Parameters
    ----------
    path : str or Path, optional
        A JSON file written by :func:`save`.

    Returns
    -------
    Decision or None
    """
    p = Path(path) if path else DEFAULT_PATH
    if not p.is_file():
        return None
    d = json.loads(p.read_text())
    keys = {"features", "mean", "scale", "coef", "intercept", "threshold", "target_fpr", "analyzers", "kind", "trees",
            "baseline"}
    return Decision(features=d["features"], mean=np.asarray(d["mean"]), scale=np.asarray(d["scale"]),
                    coef=np.asarray(d["coef"]), intercept=float(d["intercept"]), threshold=float(d["threshold"]),
                    target_fpr=float(d["target_fpr"]), analyzers=d["analyzers"],
                    meta={k: v for k, v in d.items() if k not in keys}, kind=d.get("kind", "lr"),
                    trees=d.get("trees") or None, baseline=float(d.get("baseline", 0.0)))


_LOADED: dict = {}


def packaged() -> Decision | None:
    """The packaged decision (read once per process)."""
    if "d" not in _LOADED:
        _LOADED["d"] = load()
    return _LOADED["d"]


def fit_analyzer_calibration(raw_pristine: dict[str, list], target_fpr: float = TARGET_FPR) -> dict:
    """Per-analyzer threshold at ``target_fpr`` of pristine images and a logistic width.

    Parameters
    ----------
    raw_pristine : dict of str to list of float or None
        Raw analyzer scores on pristine development images (None = did not run).
    target_fpr : float
        False-alarm rate the threshold is set for.

    Returns
    -------
    dict
        name -> {"threshold", "width", "target_fpr", "n"}.
    """
    from ..bench.metrics import threshold_at_fpr

    out = {}
    for n, vals in raw_pristine.items():
        v = np.asarray([x for x in vals if x is not None], float)
        if v.size == 0:
            continue
        t = threshold_at_fpr(v, target_fpr)
        width = max((t - float(np.percentile(v, 90))) / 4.0, 0.05)
        out[n] = {"threshold": round(float(t), 4), "width": round(float(width), 4), "target_fpr": target_fpr, "n": int(v.size)}
    return out


def _fit_lr(x: np.ndarray, y: np.ndarray, c: float):
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = np.where(x.std(axis=0) > 1e-9, x.std(axis=0), 1.0)
    lr = LogisticRegression(C=c, class_weight="balanced", max_iter=2000).fit((x - mean) / scale, y)
    return mean, scale, lr.coef_[0], float(lr.intercept_[0])


def _hgb():
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15, random_state=0)


def _fit_predict(kind: str, c, xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray) -> np.ndarray:
    if kind == "hgb":
        return _hgb().fit(xtr, ytr).predict_proba(xte)[:, 1]
    m, s, w, b = _fit_lr(xtr, ytr, c)
    return 1.0 / (1.0 + np.exp(-(((xte - m) / s) @ w + b)))


def fit(x: np.ndarray, y: np.ndarray, groups: np.ndarray, names: list, target_fpr: float = TARGET_FPR,
        folds: int = 5, c: float | None = None, hgb: bool = True, analyzers: dict | None = None, meta: dict | None = None) -> tuple[Decision, dict]:
    """Fit the stacked decision on development images and set its threshold out of fold.

    Parameters
    ----------
    x : numpy.ndarray
        (n, d) features from :func:`image_features`.
    y : numpy.ndarray
        1 = tampered, 0 = pristine.
    groups : numpy.ndarray
        Host id per row: folds never split a host.
    names : list of str
        Feature names (stored with the model).
    target_fpr : float
        False-alarm rate on pristine images the threshold is set for.
    folds : int
        Group k-fold count for the out-of-fold scores.
    c : float, optional
        Inverse L2 strength of the logistic regression; by default the one of ``C_GRID`` with
        the best out-of-fold TPR at ``target_fpr``.
    hgb : bool
        Also try gradient-boosted trees (kept when their out-of-fold TPR is higher).
    analyzers : dict, optional
        Per-analyzer calibration (:func:`fit_analyzer_calibration`) stored alongside.
    meta : dict, optional
        Provenance to record (command, manifest sha256, ...); the date is added.

    Returns
    -------
    (Decision, dict)
        The model and the out-of-fold scores {"oof": array, "threshold": float}.
    """
    from sklearn.model_selection import GroupKFold

    from ..bench.metrics import threshold_at_fpr

    x, y, groups = np.asarray(x, float), np.asarray(y, int), np.asarray(groups)
    cands = [("lr", cc) for cc in ([c] if c else C_GRID)] + ([("hgb", None)] if hgb else [])
    best = None
    for kind, cc in cands:  # the candidate with the best out-of-fold TPR at the target FPR
        oof = np.zeros(len(y))
        for tr, te in GroupKFold(n_splits=folds).split(x, y, groups):
            oof[te] = _fit_predict(kind, cc, x[tr], y[tr], x[te])
        thr = threshold_at_fpr(oof[y == 0], target_fpr)
        tpr = float((oof[y == 1] > thr).mean())
        if best is None or tpr > best[0]:
            best = (tpr, kind, cc, oof, thr)
    assert best is not None  # cands is never empty
    _, kind, c, oof, thr = best
    m, s, w, b = _fit_lr(x, y, c or 1.0)
    trees, base = (_export_hgb(_hgb().fit(x, y)) if kind == "hgb" else (None, 0.0))
    info = dict(meta or {})
    info.update({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "n_pristine": int((y == 0).sum()),
                 "n_tampered": int((y == 1).sum()), "model": kind if kind == "hgb" else f"lr C={c}", "oof_fpr": float((oof[y == 0] > thr).mean()),
                 "oof_tpr": float((oof[y == 1] > thr).mean())})
    d = Decision(features=list(names), mean=m, scale=s, coef=w, intercept=b, threshold=float(thr),
                 target_fpr=target_fpr, analyzers=analyzers or {}, meta=info, kind=kind, trees=trees, baseline=base)
    return d, {"oof": oof, "threshold": float(thr)}


def save(d: Decision, path: str | Path | None = None) -> Path:
    """Write a decision as JSON, atomically.

    Parameters
    ----------
    d : Decision
        The fitted model.
    path : str or Path, optional
        Destination (the packaged file by default).

    Returns
    -------
    Path
    """
    from ..util import atomic_write_text

    p = Path(path) if path else DEFAULT_PATH
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(p, json.dumps(d.to_json(), indent=1) + "\n")
    _LOADED.pop("d", None)
    return p
