"""The trained head (format 1, v0.1; format 2 is built by recipe.py and run by runtime2.py):
per-detector linear heads, Platt maps, fusion, threshold, families, loading and saving of both.

Design
------
One JSON file (``sleuth/data/heads/aigen.json``, tens of KB) holds everything inference needs
beyond the CLIP encoder and the NPR weights (``npr.npz``):

* ``detectors``: ``clip-probe`` (standardised logistic, UnivFD recipe, on the CLIP projection and
  last-layer tokens of two views, see CLIP_FEATURES; trained on format-neutral + augmented copies), ``spectral`` (logistic on the
  44 residual-spectrum features), ``rigid`` (training-free: log of 1 - cos(e(x), e(x+noise)),
  only its Platt map is fitted), ``npr`` (CNN, raw logit); each with a Platt map and a
  per-detector threshold at the same FPR (the JSON's ``fired`` list uses them).
* ``fusion``: logistic stacking of the detectors' out-of-fold logits, and ``threshold``: the
  fused probability above which ``is_ai`` is true, set at ``fpr_target`` on out-of-fold scores
  of development real photos (see calibration.py).
* ``families``: attribution by nearest class mean in CLIP space (cosine), softmax with a fitted
  temperature, open-set radius per family (5th percentile of leave-one-out member cosines):
  below the radius of the nearest family the answer is ``unknown``. Enrolling a generator adds
  one centroid and one radius; nothing else is retrained.
* ``provenance``: the exact command, the data description (manifest sha256), protocol version.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from . import calibration as cal

FORMAT = "sleuth-aigen-head/1"
FORMAT2 = "sleuth-aigen-head/2"  # recipe.py: tower probe + clip-probe + spectral on native crops
DETECTORS = ("clip-probe", "rigid", "spectral", "npr")
C_CLIP = 0.05
C_SPEC = 0.1
#: which CLIP features the clip-probe reads, "+"-joined: "emb" (512-d projection), "tok" (last-layer
#: CLS + mean patch token, 1536-d) of the resized view, "embn"/"tokn" the same for the native 224 crop.
CLIP_FEATURES = "emb+tok+embn+tokn"


def clip_input(feats: dict, which: str) -> np.ndarray:
    return np.concatenate([np.asarray(feats[k], np.float64).reshape(len(feats[k]), -1) for k in which.split("+")], axis=1)


def _rigid_raw(r) -> np.ndarray:
    return np.log(np.maximum(np.asarray(r, np.float64).reshape(-1), 1e-6))


def raw_scores(head: dict, feats: dict) -> dict[str, np.ndarray]:
    """Raw logits of every detector present in both the head and ``feats``."""
    out = {}
    d = head["detectors"]
    if "clip-probe" in d and "emb" in feats:
        which = d["clip-probe"].get("features", "emb")
        out["clip-probe"] = cal.apply_logistic(d["clip-probe"]["linear"], clip_input(feats, which))
    if "spectral" in d and "spec" in feats:
        out["spectral"] = cal.apply_logistic(d["spectral"]["linear"], feats["spec"])
    if "rigid" in d and "rigid" in feats:
        out["rigid"] = _rigid_raw(feats["rigid"])
    if "npr" in d and "npr" in feats:
        out["npr"] = np.asarray(feats["npr"], np.float64).reshape(-1)
    return out


def predict(head: dict, feats: dict) -> dict:
    """Per-detector calibrated probabilities and the fused probability for N rows."""
    raw = raw_scores(head, feats)
    probs = {k: cal.apply_platt(v, head["detectors"][k]["platt"]) for k, v in raw.items()}
    fu = head["fusion"]
    names = [n for n in fu["detectors"] if n in raw]
    if len(names) == len(fu["detectors"]):
        z = fu["b"] + sum(w * raw[n] for n, w in zip(fu["detectors"], fu["w"], strict=False))
        fused = cal.sigmoid(z)
    else:  # a detector is missing (e.g. no NPR weights): fall back to the mean of calibrated logits
        fused = cal.sigmoid(np.mean([cal.logit(probs[n]) for n in names], axis=0))
    return {"raw": raw, "probs": probs, "fused": fused}


def _folds(y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Stratified fold id per row, deterministic."""
    rng = np.random.default_rng(seed)
    f = np.zeros(len(y), int)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        f[idx] = np.arange(len(idx)) % k
    return f


def _fit_detector(name: str, F: dict, rows_train: np.ndarray, y: np.ndarray, train_variants, clip_features: str = "emb") -> dict:
    """Fit one trainable detector on the given item indices, all training variants stacked."""
    key, C = {"clip-probe": (clip_features, C_CLIP), "spectral": ("spec", C_SPEC)}[name]
    X = np.concatenate([clip_input({k: F[v][k][rows_train] for k in key.split("+")}, key) for v in train_variants])
    Y = np.concatenate([y[rows_train] for _ in train_variants])
    return cal.fit_logistic(X, Y, C=C)


def fit(F: dict, y, *, detectors=("clip-probe", "rigid", "spectral"), train_variants=("jpeg90", "aug0", "aug1"),
        calib_variant: str = "jpeg90", fpr: float = 0.01, folds: int = 5, seed: int = 0,
        npr_oof=None, families=None, clip_features: str | None = None) -> dict:
    """Train a head from cached features.

    ``F[variant]`` maps feature names (emb, spec, rigid) to arrays with one row per item;
    ``y`` are labels (1 = AI). Per-detector calibration, fusion and the threshold use
    out-of-fold scores of ``calib_variant``. ``npr_oof`` gives out-of-fold NPR logits (the CNN
    is trained elsewhere). ``families`` (str or None per item) adds attribution.
    """
    y = np.asarray(y, int)
    n = len(y)
    cf = clip_features or CLIP_FEATURES
    cf = "+".join(k for k in cf.split("+") if k in F[calib_variant]) or "emb"  # e.g. no "tok" features
    fold = _folds(y, folds, seed)
    dets = [d for d in detectors if d != "npr"]
    oof = {d: np.zeros(n) for d in dets}
    for k in range(folds):
        tr, te = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        part: dict[str, Any] = {"detectors": {}}
        for d in dets:
            if d in ("clip-probe", "spectral"):
                part["detectors"][d] = {"linear": _fit_detector(d, F, tr, y, train_variants, cf), "features": cf}
            else:
                part["detectors"][d] = {}
        feats = {kk: v[te] for kk, v in F[calib_variant].items()}
        for d, v in raw_scores(part, feats).items():
            oof[d][te] = v
    if npr_oof is not None and "npr" in detectors:
        oof["npr"] = np.asarray(npr_oof, np.float64)
        dets.append("npr")
    head: dict[str, Any] = {"format": FORMAT, "fpr_target": fpr, "detectors": {}}
    reals = y == 0
    for d in dets:
        entry: dict[str, Any] = {}
        if d in ("clip-probe", "spectral"):
            entry["linear"] = _fit_detector(d, F, np.arange(n), y, train_variants, cf)
            if d == "clip-probe":
                entry["features"] = cf
        entry["platt"] = list(cal.fit_platt(oof[d], y))
        p = cal.apply_platt(oof[d], entry["platt"])
        entry["threshold"] = cal.threshold_for_fpr(p[reals], fpr)
        head["detectors"][d] = entry
    S = np.stack([oof[d] for d in dets], 1)
    lin = cal.fit_logistic(S, y, C=1.0, balanced=False)
    w, b = np.asarray(lin["w"]), float(lin["b"])
    head["fusion"] = {"detectors": dets, "w": w.tolist(), "b": float(b), "method": "logistic stacking of out-of-fold logits"}
    fused_oof = cal.sigmoid(b + S @ w)
    head["threshold"] = cal.threshold_for_fpr(fused_oof[reals], fpr)
    head["_oof"] = {"fused": fused_oof, **{d: cal.apply_platt(oof[d], head["detectors"][d]["platt"]) for d in dets}}
    head["oof"] = {"n_real": int(reals.sum()), "n_ai": int((~reals).sum()),
                   "fpr_at_threshold": float((fused_oof[reals] > head["threshold"]).mean()),
                   "tpr_at_threshold": float((fused_oof[~reals] > head["threshold"]).mean())}
    if families is not None:
        fam = np.asarray([f or "" for f in families])
        embs = np.stack([F[v]["emb"] for v in train_variants])  # V x N x 512
        head["families"] = {}
        for name in sorted(set(fam[fam != ""])):
            idx = np.flatnonzero(fam == name)
            head["families"][name] = family_entry(embs[:, idx].reshape(-1, embs.shape[-1]), n_items=len(idx))
        head["attribution"] = {"temperature": fit_temperature(head["families"], embs, fam)}
    return head


def family_entry(E: np.ndarray, n_items: int | None = None) -> dict:
    """Centroid (unit) and open-set radius from member embeddings (rows of unit vectors)."""
    E = np.asarray(E, np.float64)
    s = E.sum(0)
    n = len(E)
    c = s / max(np.linalg.norm(s), 1e-12)
    if n > 1:  # leave-one-out cosine of each member to the centroid of the others
        loo = s[None] - E
        loo /= np.maximum(np.linalg.norm(loo, axis=1, keepdims=True), 1e-12)
        cos = np.sum(loo * E, 1)
        radius = float(np.percentile(cos, 5)) - 0.02
    else:
        radius = 0.8
    return {"centroid": c.tolist(), "radius": radius, "n": int(n_items or n)}


def fit_temperature(families: dict, embs: np.ndarray, fam: np.ndarray) -> float:
    names = list(families)
    C = np.asarray([families[k]["centroid"] for k in names])
    idx = np.flatnonzero(np.isin(fam, names))
    if len(names) < 2 or len(idx) == 0:
        return 30.0
    X = embs[:, idx].reshape(-1, embs.shape[-1])
    t = np.tile(np.asarray([names.index(f) for f in fam[idx]]), embs.shape[0])
    cos = X @ C.T
    best, bestT = np.inf, 30.0
    for T in (5, 10, 15, 20, 30, 50, 75, 100, 150):
        z = cos * T
        z -= z.max(1, keepdims=True)
        nll = -np.mean(z[np.arange(len(t)), t] - np.log(np.exp(z).sum(1)))
        if nll < best:
            best, bestT = nll, float(T)
    return bestT


def attribute(head: dict, emb: np.ndarray) -> tuple[str, float | None, dict]:
    """(family or 'unknown', probability or None, per-family cosine) for one unit embedding."""
    fams = head.get("families") or {}
    if not fams:
        return "unknown", None, {}
    names = list(fams)
    C = np.asarray([fams[k]["centroid"] for k in names], np.float64)
    cos = C @ np.asarray(emb, np.float64)
    T = float(head.get("attribution", {}).get("temperature", 30.0))
    z = T * cos
    p = np.exp(z - z.max())
    p /= p.sum()
    i = int(np.argmax(cos))
    sims = {k: round(float(c), 4) for k, c in zip(names, cos, strict=False)}
    if cos[i] < fams[names[i]]["radius"]:
        return "unknown", None, sims
    return names[i], float(p[i]), sims


def _pack(obj):
    """Long float lists -> {"f32": base64} (keeps the head a few tens of KB); short ones rounded."""
    import base64

    if isinstance(obj, list) and len(obj) > 64 and all(isinstance(v, (float, int)) for v in obj):
        return {"f32": base64.b64encode(np.asarray(obj, "<f4").tobytes()).decode()}
    if isinstance(obj, float):
        return float(f"{obj:.8g}")
    if isinstance(obj, list):
        return [_pack(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _pack(v) for k, v in obj.items()}
    return obj


def _unpack(obj):
    import base64

    if isinstance(obj, dict):
        if set(obj) == {"f32"}:
            return np.frombuffer(base64.b64decode(obj["f32"]), "<f4").astype(np.float64).tolist()
        return {k: _unpack(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unpack(v) for v in obj]
    return obj


def load(path: str | Path) -> dict:
    from ..errors import ModelNotFoundError

    p = Path(path)
    try:
        head = _unpack(json.loads(p.read_text()))
    except FileNotFoundError:
        raise ModelNotFoundError("no such detector head file", str(p)) from None
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"unreadable detector head ({exc})", str(p)) from None
    if head.get("format") not in (FORMAT, FORMAT2):
        raise ModelNotFoundError(f"not a {FORMAT} head (format {head.get('format')!r})", str(p))
    return head


def save(head: dict, path: str | Path) -> None:
    from ..util import atomic_write_text

    head = {k: v for k, v in head.items() if not k.startswith("_")}
    atomic_write_text(path, json.dumps(_pack(head), indent=1, sort_keys=False) + "\n")
