"""Training recipe of the ``sleuth-aigen-head/2`` head: leave-one-family-out scores, selection,
fusion, calibration and the final fit.

Design
------
* Data: the feature store (features.py) for every item under the training variants (the clean
  ``c320q90`` protocol view, 2 crops, plus two augmented copies, 1 random crop each) and the other
  benchmark protocols. Rows are crops; an image's score is the mean of its crop logits.
* Detectors: ``tower`` (probe.py: ridge over the block tokens of the selected block groups),
  ``clip-probe`` (standardised logistic on the 512-d projection of each crop, UnivFD recipe, with
  augmentation), ``spectral`` (standardised logistic on the 44 residual-spectrum features).
* Out-of-fold: every detector is refitted per fold of lofo.make_folds and scores the fold's test
  items under every protocol. The fusion (logistic stacking of detector logits) and the decision
  threshold for a fold's test items are fitted on the out-of-fold scores of the *other* folds'
  items, so no reported number comes from a threshold fitted on the rows it is reported on.
* Selection: the tower's block set and regularisation are chosen on those out-of-fold scores
  (criterion: mean of the pooled AUC, the content-matched AUC and TPR at 1% FPR, all c320q90).
* Shipped head: the selected configuration refitted on all rows; Platt map and fusion on all
  out-of-fold logits; threshold at ``fpr`` on the pooled out-of-fold fused scores of the real
  photos; band edge (``threshold_low``) at 5% FPR.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import calibration as cal
from . import probe, views

DETECTORS = ("tower", "clip-probe", "spectral")
C_CLIP = 0.05
C_SPEC = 0.1
LAMBDAS = (3.0, 30.0)
#: configurations compared by leave-one-family-out selection (block groups, ridge lambda)
GRID = (("all", 0.3), ("all", 3.0), ("all", 30.0), ("mid+late", 3.0), ("early+mid", 3.0))
BLOCK_SETS = {"all": ("early", "mid", "late"), "mid+late": ("mid", "late"), "early+mid": ("early", "mid")}
CNNDET_GAN = ("biggan", "crn", "cyclegan", "gaugan_spade", "imle", "stargan", "stylegan1_lsun")


@dataclass
class Data:
    """Features of a dataset, rows = crops."""
    items: list
    y: np.ndarray
    train_blocks: np.ndarray  # R x 12 x 2 x 768 (float16)
    train_emb: np.ndarray  # R x 512
    train_item: np.ndarray  # R
    train_var: np.ndarray  # R (variant name)
    train_crop: np.ndarray  # R (crop index within the item's variant)
    spec: dict  # variant -> N x 44
    meta: dict  # variant -> N x 3
    eval_blocks: dict = field(default_factory=dict)  # protocol -> (M x 12 x 2 x 768, item of row)
    eval_emb: dict = field(default_factory=dict)
    has: dict = field(default_factory=dict)  # protocol -> items that have its features


def load_data(store, items, protocols=views.EVAL_PROTOCOLS, train_variants=views.TRAIN_VARIANTS, log=None,
              eval_every: int = 1) -> Data:
    """Read (computing what is missing) every item's features from the store.

    Protocols that are not training variants are read for every ``eval_every``-th item only
    (``Data.has[protocol]`` marks the items that have them).
    """
    y = np.asarray([it.label for it in items])
    B, E, Ii, V, Cr = [], [], [], [], []
    spec, meta, eb, ee, has = {}, {}, {}, {}, {}
    for v in dict.fromkeys([*train_variants, *protocols]):
        idx = np.arange(len(items)) if v in train_variants else np.arange(0, len(items), eval_every)
        S = store.stack([items[i] for i in idx], v)
        k = S["emb"].shape[1]
        spec[v], meta[v] = np.zeros((len(items), S["spec"].shape[1]), np.float32), np.ones((len(items), 3), np.float32)
        spec[v][idx], meta[v][idx] = S["spec"], S["meta"]
        has[v] = np.isin(np.arange(len(items)), idx)
        rows_b = S["blocks"].reshape(-1, 12, 2, 768)
        rows_e = S["emb"].reshape(-1, 512)
        rows_i = np.repeat(idx, k)
        crop = np.tile(np.arange(k), len(idx))
        if v in train_variants:
            B.append(rows_b)
            E.append(rows_e)
            Ii.append(rows_i)
            V.append(np.full(len(rows_i), v))
            Cr.append(crop)
        if v in protocols:
            eb[v], ee[v] = (rows_b, rows_i), (rows_e, rows_i)
            if k > 1:  # first crop only: the single-crop reference of the other protocols
                ee[v + ":1"] = (rows_e[crop == 0], rows_i[crop == 0])
                spec[v + ":1"], meta[v + ":1"], has[v + ":1"] = spec[v], meta[v], has[v]
        if log:
            log(f"features {v}: {len(idx)} items x {k} crops")
    return Data(items, y, np.concatenate(B), np.concatenate(E), np.concatenate(Ii), np.concatenate(V),
             np.concatenate(Cr), spec, meta, eb, ee, has)


def item_mean(logits: np.ndarray, row_item: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-item mean and std of crop logits."""
    s = np.bincount(row_item, logits, n)
    c = np.maximum(np.bincount(row_item, None, n), 1)
    m = s / c
    v = np.bincount(row_item, (logits - m[row_item]) ** 2, n) / c
    return m, np.sqrt(v)


def _logistic_oof(Xtr_rows, ytr_rows, Xte, C):
    lin = cal.fit_logistic(Xtr_rows, ytr_rows, C=C)
    return cal.apply_logistic(lin, Xte), lin


def train_variants(data: Data) -> list[str]:
    """The training variants present in ``data``, clean view first."""
    return list(dict.fromkeys(data.train_var.tolist()))


def fit_rows(data: Data) -> np.ndarray:
    """Rows the tower probe is fitted on: the first crop of the clean view and every augmented
    crop (one clean + one augmented row per image keeps each fold's solve small)."""
    return (data.train_crop == 0) | (data.train_var != views.TRAIN_VARIANTS[0])


def tower_oof(data: Data, folds, configs, log=None) -> dict:
    """Out-of-fold tower logits for each (block set, lambda) config and protocol.

    Returns ``{config: {protocol: (mean logit per item, crop std per item)}}``.
    """
    n = len(data.items)
    prot = list(data.eval_blocks)
    others = [data.eval_blocks[p][0] for p in prot if p not in views.TRAIN_VARIANTS]
    oprot = [p for p in prot if p not in views.TRAIN_VARIANTS]
    K, cross, _ = probe.kernels(data.train_blocks, others)
    if log:
        log("tower kernels ready")
    yrow = data.y[data.train_item]
    out = {c: {p: np.zeros(len(data.train_item) if p in views.TRAIN_VARIANTS else len(data.eval_blocks[p][1]))
               for p in prot} for c in configs}
    for fi, f in enumerate(folds):
        tr = np.flatnonzero(np.isin(data.train_item, f.train) & fit_rows(data))
        for bs in {c[0] for c in configs}:
            Kb = sum(K[g][np.ix_(tr, tr)] for g in BLOCK_SETS[bs])
            for lam in {c[1] for c in configs if c[0] == bs}:
                a = probe.solve(Kb, yrow[tr], lam)
                c = (bs, lam)
                for p in prot:
                    if p in views.TRAIN_VARIANTS:
                        rows = np.flatnonzero(np.isin(data.train_item, f.test) & (data.train_var == p))
                        Kx = sum(K[g][np.ix_(rows, tr)] for g in BLOCK_SETS[bs])
                    else:
                        rows = np.flatnonzero(np.isin(data.eval_blocks[p][1], f.test))
                        j = oprot.index(p)
                        Kx = sum(cross[g][j][np.ix_(rows, tr)] for g in BLOCK_SETS[bs])
                    out[c][p][rows] = (Kx + 1.0) @ a
        if log:
            log(f"tower fold {fi + 1}/{len(folds)} ({f.family}/{f.half})")
    res: dict = {}
    for c in configs:
        res[c] = {}
        for p in prot:
            if p in views.TRAIN_VARIANTS:
                m = data.train_var == p
                res[c][p] = item_mean(out[c][p][m], data.train_item[m], n)
                m1 = m & (data.train_crop == 0)
                res[c][p + ":1"] = item_mean(out[c][p][m1], data.train_item[m1], n)
            else:
                res[c][p] = item_mean(out[c][p], data.eval_blocks[p][1], n)
    return res


def linear_oof(data: Data, folds, which: str, protocols, augment: bool = True) -> dict:
    """Out-of-fold logits of the ``clip-probe`` (which='emb') or ``spectral`` (which='spec') detector."""
    n = len(data.items)
    out = {p: np.zeros(n) for p in protocols}
    tv = train_variants(data) if augment else train_variants(data)[:1]
    for f in folds:
        if which == "emb":
            m = np.isin(data.train_item, f.train) & np.isin(data.train_var, tv)
            X, Y, C = data.train_emb[m], data.y[data.train_item[m]], C_CLIP if augment else 1.0
        else:
            X = np.concatenate([data.spec[v][f.train] for v in tv])
            Y, C = np.tile(data.y[f.train], len(tv)), C_SPEC
        if len(set(Y.tolist())) < 2:  # degenerate fold (tiny data): no out-of-fold score beyond 0
            continue
        lin = cal.fit_logistic(X, Y, C=C)
        for p in protocols:
            if which == "emb":
                E, ri = data.eval_emb[p]
                rows = np.flatnonzero(np.isin(ri, f.test))
                m_, _ = item_mean(cal.apply_logistic(lin, E[rows]), ri[rows], n)
                out[p][f.test] = m_[f.test]
            else:
                out[p][f.test] = cal.apply_logistic(lin, data.spec[p][f.test])
    return out


def fold_of(folds, n: int) -> np.ndarray:
    """Index of the fold whose test set holds each item."""
    fo = np.full(n, -1)
    for k, f in enumerate(folds):
        fo[f.test] = k
    return fo


def fuse_oof(logits: dict, y: np.ndarray, folds, fpr: float, ref: str = "c320q90") -> dict:
    """Fold-honest fusion and thresholds.

    Parameters
    ----------
    logits : dict
        detector -> protocol -> per-item out-of-fold logit.
    y : ndarray
        Labels.
    folds : list of Fold
    fpr : float
        Target false-positive rate of the decision.
    ref : str
        Protocol on which the fusion and thresholds are fitted.

    Returns
    -------
    dict
        ``fused[protocol]`` (per-item fused logit), ``thr`` / ``thr_low`` (per-item decision
        threshold on the fused logit at ``fpr`` / 5%, fitted on other folds' real photos).
    """
    dets = list(logits)
    n = len(y)
    fo = fold_of(folds, n)
    prots = list(next(iter(logits.values())))
    fused = {p: np.zeros(n) for p in prots}
    thr, thr_low = np.zeros(n), np.zeros(n)
    S_ref = np.stack([logits[d][ref] for d in dets], 1)
    for k in range(len(folds)):
        te, tr = fo == k, fo != k
        if len(set(y[tr])) < 2:  # degenerate split (tiny data): fit on every row
            tr = np.ones(n, bool)
        lin = cal.fit_logistic(S_ref[tr], y[tr], C=1.0, balanced=False)
        for p in prots:
            S = np.stack([logits[d][p] for d in dets], 1)
            fused[p][te] = cal.apply_logistic(lin, S[te])
        z_tr = cal.apply_logistic(lin, S_ref[tr])
        reals = z_tr[y[tr] == 0]
        thr[te] = cal.threshold_for_fpr(reals, fpr)
        thr_low[te] = cal.threshold_for_fpr(reals, max(fpr, 0.05))
    return {"fused": fused, "thr": thr, "thr_low": thr_low, "detectors": dets}


def content_matched(items) -> np.ndarray:
    """Mask of the content-matched subset: CNNDetection 240 px GAN crops and their real halves."""
    return np.asarray([(it.dataset == "aigen") and (it.group in CNNDET_GAN or it.group == "forensynths_thumbs")
                       for it in items])


def select_score(y, s, thr, items) -> float:
    """Selection criterion: mean of pooled AUC, content-matched AUC and TPR at the decision."""
    from ..bench.metrics import roc_auc

    cm = content_matched(items)
    tpr = float((s[y == 1] > thr[y == 1]).mean())
    auc = roc_auc(y, s)
    cm_auc = roc_auc(y[cm], s[cm]) if len(set(y[cm])) == 2 else auc
    return (auc + cm_auc + tpr) / 3.0


def run_lofo(data: Data, folds, configs, fpr: float = 0.01, log=None, detectors=DETECTORS) -> dict:
    """Every detector's out-of-fold logits, the selected tower config, fold-honest fusion.

    Returns a dict with ``logits`` (detector -> protocol -> per-item logit, the tower at its selected
    config), ``crop_std`` (protocol -> per-item std of the tower's crop logits), ``grid``
    (config -> selection score), ``config`` (the selected one), ``fusion`` (fuse_oof output).
    """
    prots = list(data.eval_emb)
    tw = tower_oof(data, folds, configs, log=log)
    grid = {}
    for c, res in tw.items():
        single = {"tower": {p: res[p][0] for p in prots}}
        fu = fuse_oof(single, data.y, folds, fpr)
        grid[c] = select_score(data.y, fu["fused"]["c320q90"], fu["thr"], data.items)
    best = max(configs, key=lambda c: (grid[c], -configs.index(c)))
    logits = {"tower": {p: tw[best][p][0] for p in prots}}
    if "clip-probe" in detectors:
        logits["clip-probe"] = linear_oof(data, folds, "emb", prots)
    if "spectral" in detectors:
        logits["spectral"] = linear_oof(data, folds, "spec", prots)
    if log:
        log(f"selected tower config {best}: {grid[best]:.4f}")
    fusions = {}  # which detectors the fusion uses: chosen on the same out-of-fold criterion
    for k in range(1, len(logits) + 1):
        names = list(logits)[:k]
        fu = fuse_oof({d: logits[d] for d in names}, data.y, folds, fpr)
        fusions[tuple(names)] = (select_score(data.y, fu["fused"]["c320q90"], fu["thr"], data.items), fu)
    fused_dets = max(fusions, key=lambda t: (fusions[t][0], -len(t)))
    if log:
        log("fusion sets: " + ", ".join(f"{'+'.join(t)} {v[0]:.4f}" for t, v in fusions.items()))
    return {"logits": logits, "crop_std": {p: tw[best][p][1] for p in prots}, "grid": grid, "config": best,
            "fusion": fusions[fused_dets][1], "fused_detectors": list(fused_dets),
            "fusion_grid": {"+".join(t): v[0] for t, v in fusions.items()}, "all_tower": tw}


def fit_final(data: Data, lofo_res: dict, *, fpr: float = 0.01, detectors=DETECTORS) -> dict:
    """The shipped head from all rows plus out-of-fold calibration (see module docstring)."""
    bs, lam = lofo_res["config"]
    y, n = data.y, len(data.items)
    yrow = y[data.train_item]
    groups = {g: probe.GROUPS[g] for g in BLOCK_SETS[bs]}
    fr = fit_rows(data)
    K, _, stats = probe.kernels(data.train_blocks[fr], [], groups)
    a = probe.solve(sum(K.values()), yrow[fr], lam)
    del K
    w, b = probe.primal(data.train_blocks[fr], a, stats, {g: (blk, 1.0) for g, blk in groups.items()})
    dets = {"tower": {"blocks": list(BLOCK_SETS[bs]), "lambda": lam, "w": w.reshape(-1).tolist(), "b": b}}
    if "clip-probe" in detectors:
        dets["clip-probe"] = {"linear": cal.fit_logistic(data.train_emb, yrow, C=C_CLIP), "features": "crop-emb"}
    if "spectral" in detectors:
        tv = train_variants(data)
        dets["spectral"] = {"linear": cal.fit_logistic(np.concatenate([data.spec[v] for v in tv]), np.tile(y, len(tv)), C=C_SPEC)}
    oof = {d: lofo_res["logits"][d]["c320q90"] for d in dets}
    reals = y == 0
    for d, e in dets.items():
        e["platt"] = list(cal.fit_platt(oof[d], y))
        e["threshold"] = cal.threshold_for_fpr(cal.apply_platt(oof[d], e["platt"])[reals], fpr)
    names = [d for d in lofo_res.get("fused_detectors", list(dets)) if d in dets]
    S = np.stack([oof[d] for d in names], 1)
    lin = cal.fit_logistic(S, y, C=1.0, balanced=False)
    fused = cal.sigmoid(cal.apply_logistic(lin, S))
    cs = lofo_res["crop_std"]["c320q90"]
    head = {"format": "sleuth-aigen-head/2", "protocol": views.PROTOCOL_VERSION, "fpr_target": fpr,
            "crops": 2, "detectors": dets,
            "fusion": {"detectors": names, "w": list(lin["w"]), "b": lin["b"],
                       "method": "logistic stacking of out-of-fold logits"},
            "threshold": cal.threshold_for_fpr(fused[reals], fpr),
            "threshold_low": cal.threshold_for_fpr(fused[reals], max(fpr, 0.05)),
            "crop_disagreement": float(np.percentile(cs[reals], 99)),
            "_oof_fused": fused}
    head["oof"] = {"n_real": int(reals.sum()), "n_ai": int((~reals).sum()),
                   "fpr_at_threshold": float((fused[reals] > head["threshold"]).mean()),
                   "tpr_at_threshold": float((fused[~reals] > head["threshold"]).mean())}
    _ = n
    return head


#: attribution space: mean patch tokens of blocks 2-5 (5-fold closed-set family accuracy on the
#: development AI images was higher there than with the projection or the late blocks; bench/aigen.py)
ATTR_BLOCKS = (2, 3, 4, 5)


def attr_vectors(blocks: np.ndarray, cfg: dict) -> np.ndarray:
    """Unit attribution vectors of crops: (n, 12, 2, 768) block features -> (n, d)."""
    X = np.asarray(blocks, np.float64)[:, list(cfg["blocks"]), 1].reshape(len(blocks), -1)
    X = (X - np.asarray(cfg["mean"])) / np.asarray(cfg["scale"])
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def image_vector(rows: np.ndarray) -> np.ndarray:
    """One unit vector per image from its crops' unit vectors."""
    m = np.asarray(rows, np.float64).sum(0)
    return m / max(float(np.linalg.norm(m)), 1e-12)


def attribution(data: Data, folds=None) -> tuple[dict, dict]:
    """Family centroids in the attribution space (ATTR_BLOCKS mean patch tokens, standardised) with
    open-set radii and a fitted temperature; returns (families, attribution settings)."""
    from . import heads

    fam = np.asarray([it.family or "" for it in data.items])
    rf = fam[data.train_item]
    X = np.asarray(data.train_blocks[:, list(ATTR_BLOCKS), 1], np.float32).reshape(len(rf), -1)
    cfg = {"space": "patch-tokens", "blocks": list(ATTR_BLOCKS), "mean": X.mean(0, dtype=np.float64).tolist(),
           "scale": (X.std(0, dtype=np.float64) + 1e-3).tolist()}
    E = attr_vectors(data.train_blocks, cfg)
    fams = {}
    for name in sorted(set(fam[fam != ""])):
        m = rf == name
        fams[name] = heads.family_entry(E[m], n_items=int((fam == name).sum()))
    cfg["temperature"] = heads.fit_temperature(fams, E[None], rf)
    _ = folds
    return fams, cfg


#: content-matched topics: aigen_modern photoreal styles and the ImageNet classes that show the
#: same kind of scene (used only to select rows for a report, never as a feature)
TOPICS = {
    "animals": (("Bear catching fish",), ("American_black_bear", "lion", "tiger", "cougar", "jaguar", "snow_leopard",
                                          "zebra", "bison", "ox", "water_buffalo", "wild_boar", "gazelle", "tusker")),
    "vehicles": (("Hypercar",), ("sports_car", "convertible", "car_wheel", "minibus", "moving_van", "trailer_truck",
                                 "school_bus", "streetcar", "moped", "motor_scooter")),
    "boats": (("Party yacht",), ("speedboat", "yawl", "fireboat", "pier", "boathouse", "seashore")),
    "people": (("Lady in gown", "Lady in Tokyo", "Lady in rain", "Yoga studio", "Astronaut in diner"),
               ("gown", "academic_gown", "bikini", "maillot", "miniskirt", "cardigan", "jean", "military_uniform",
                "fur_coat", "pajama", "swimming_trunks", "jersey", "cowboy_hat", "sombrero", "poncho")),
    "architecture": (("Steampunk city", "Postapocalyptic city", "Marble sculptures"),
                     ("castle", "triumphal_arch", "dome", "suspension_bridge", "cinema", "prison", "bell_cote",
                      "greenhouse", "pedestal", "throne", "fountain", "stone_wall", "lumbermill")),
}


def topic_of(item) -> str | None:
    """Content topic of an aigen_modern item (TOPICS), else None."""
    name = item.path.stem
    cls = name.split("_", 1)[1] if item.label == 0 and "_" in name else None
    for t, (styles, classes) in TOPICS.items():
        if item.label == 1 and item.style in styles:
            return t
        if item.label == 0 and item.group == "imagenet" and cls in classes:
            return t
    return None


def grid() -> list[tuple[str, float]]:
    """The tower configurations compared by leave-one-family-out selection."""
    return list(GRID)


def oof_figures(items, y, res, prot: str = "c320q90") -> dict:
    """Out-of-fold figures recorded in the head: pooled/content-matched AUC, TPR/FPR at the fold
    decision, per family TPR, per real source FPR."""
    from ..bench.metrics import roc_auc
    from .lofo import real_source

    fu = res["fusion"]
    s, t = fu["fused"][prot], fu["thr"]
    fl = s > t
    cm = content_matched(items)
    fam = np.asarray([it.family or "" for it in items])
    src = np.asarray([real_source(it) for it in items])
    cm_auc = roc_auc(y[cm], s[cm]) if len(set(y[cm])) == 2 else None
    return {"protocol": prot, "auc": round(roc_auc(y, s), 4), "content_matched_auc": None if cm_auc is None else round(cm_auc, 4),
            "tpr_fold_decision": round(float(fl[y == 1].mean()), 4), "fpr_fold_decision": round(float(fl[y == 0].mean()), 4),
            "tpr_by_family": {str(f): round(float(fl[fam == f].mean()), 4) for f in sorted(set(fam[y == 1]))},
            "fpr_by_source": {str(so): round(float(fl[(src == so) & (y == 0)].mean()), 4) for so in sorted(set(src[y == 0]))}}
