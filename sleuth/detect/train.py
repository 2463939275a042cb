"""``sleuth train aigen``: reproduce the shipped head from manifests (or folders).

Format 2 (the shipped head, ``train_aigen2``): every source given, the fn2 views and feature store,
leave-one-family-out selection and calibration, final fit; see recipe.py. Format 1 (v0.1,
``train_aigen``, one source, detectors clip-probe/rigid/spectral/npr):

Design
------
1. Items from the manifest; every file through the format-neutral protocol (jpeg90) and two
   seeded augmented copies (blur / downscale / JPEG 60-95); CLIP, RIGID and spectral features
   cached under ``--cache`` (default ``bench/_work/features`` in a checkout, else
   ``~/.cache/sleuth/features``) keyed by sha256 + protocol version.
2. Five stratified folds: each trainable detector is fitted on four, scored on the fifth
   (jpeg90); Platt maps, the fusion and the 1%-FPR threshold are fitted on those
   out-of-fold scores; final detectors are refitted on everything.
3. NPR (needs torch): 4 CNN trainings (3 folds for out-of-fold logits + the final one) on
   even-aligned 64x64 crops; weights saved next to the head as ``npr.npz``.
4. Attribution: one centroid + radius per family (dataset.FAMILY_OF) from the synthetic items.
Everything is seeded; two runs on the same data give byte-identical heads (tested).
"""
from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import heads, npr, protocol
from .dataset import TRAIN_VARIANTS, FeatureCache, Item, load_items

DEFAULT_DETECTORS = ("clip-probe", "rigid", "spectral", "npr")
NPR_CROPS = 1  # crops per item and training variant
NPR_FOLDS = 3


def default_cache() -> Path:
    repo = Path(__file__).resolve().parents[2]
    if (repo / ".git").exists() and (repo / "bench").is_dir():
        return repo / "bench" / "_work" / "features"
    from ..models import cache_dir

    return cache_dir() / "features"


def features_by_variant(cache: FeatureCache, items: list[Item], variants) -> dict:
    F = {}
    for v in variants:
        rows = [cache.get(it, v) for it in items]
        F[v] = {k: np.stack([np.asarray(r[k], np.float32).reshape(-1) for r in rows]) for k in rows[0]}
        if "rigid" in F[v]:
            F[v]["rigid"] = F[v]["rigid"].reshape(-1)
    return F


def npr_patches(items: list[Item], variants=TRAIN_VARIANTS, seed: int = 0, log=None) -> tuple[np.ndarray, np.ndarray]:
    """(patches, item index per patch) from the protocol images of each training variant."""
    from ..imageio import load_image

    P, idx = [], []
    for n, it in enumerate(items):
        rgb = load_image(it.path).rgb
        rng = np.random.default_rng(seed * 100003 + n)
        for v in variants:
            P.append(npr.crops(protocol.apply(rgb, v, key=it.sha256), NPR_CROPS, rng))
            idx += [n] * NPR_CROPS
        if log and (n + 1) % 100 == 0:
            log(f"npr crops {n + 1}/{len(items)}")
    return np.concatenate(P), np.asarray(idx)


def npr_scores(weights: dict, items: list[Item], variant: str = "jpeg90") -> np.ndarray:
    from ..imageio import load_image

    return npr.score_many(weights, (protocol.apply(load_image(it.path).rgb, variant, key=it.sha256) for it in items))


def train_npr_oof(items, y, folds: int, seed: int, epochs: int, log=None) -> tuple[dict, np.ndarray]:
    P, pidx = npr_patches(items, seed=seed, log=log)
    fold = heads._folds(np.asarray(y), folds, seed)
    oof = np.zeros(len(items))
    for k in range(folds):
        tr = fold[pidx] != k
        w = npr.train(P[tr], np.asarray(y)[pidx[tr]], epochs=epochs, seed=seed + k)
        te = np.flatnonzero(fold == k)
        oof[te] = npr_scores(w, [items[i] for i in te])
        if log:
            log(f"npr fold {k + 1}/{folds} done")
    w = npr.train(P, np.asarray(y)[pidx], epochs=epochs, seed=seed)
    return w, oof


def train_aigen(src: str | Path, out: str | Path, *, detectors=DEFAULT_DETECTORS, fpr: float = 0.01,
                cache_dir: str | Path | None = None, seed: int = 0, npr_epochs: int = 6,
                command: str | None = None, log: Callable[[str], None] | None = None) -> dict:
    log = log or (lambda m: None)
    items, desc = load_items(src)
    y = np.asarray([it.label for it in items])
    use_clip = any(d in detectors for d in ("clip-probe", "rigid"))
    cache = FeatureCache(cache_dir or default_cache(), use_clip=use_clip)
    log(f"{len(items)} items ({int(y.sum())} AI, {int((1 - y).sum())} real) from {desc}")
    cache.fill(items, TRAIN_VARIANTS, progress=lambda i, n: log(f"features {i}/{n}") if i % 50 == 0 or i == n else None)
    F = features_by_variant(cache, items, TRAIN_VARIANTS)
    npr_w, npr_oof = None, None
    if "npr" in detectors:
        npr._require_torch()  # clear one-line error when torch is absent
        npr_w, npr_oof = train_npr_oof(items, y, NPR_FOLDS, seed, npr_epochs, log=log)
    fams = [it.family for it in items] if use_clip else None
    head = heads.fit(F, y, detectors=list(detectors), fpr=fpr, seed=seed, npr_oof=npr_oof, families=fams)
    out = Path(out)
    if npr_w is not None:
        wpath = out.with_name(out.stem + ".npr.npz") if out.name != "aigen.json" else out.with_name("npr.npz")
        npr.save_weights(npr_w, wpath)
        head["detectors"]["npr"]["weights"] = wpath.name
    head["provenance"] = {
        "command": command or " ".join(shlex.quote(a) for a in ["sleuth", *sys.argv[1:]]),
        "data": desc, "protocol": protocol.PROTOCOL_VERSION, "train_variants": list(TRAIN_VARIANTS),
        "seed": seed, "fpr_target": fpr,
    }
    heads.save(head, out)
    return head


def train_aigen2(sources, out: str | Path, *, detectors=("tower", "clip-probe", "spectral"), fpr: float = 0.01,
                 cache_dir: str | Path | None = None, seed: int = 0, command: str | None = None,
                 log: Callable[[str], None] | None = None, configs=None) -> dict:
    """Train a ``sleuth-aigen-head/2`` head from one or more manifests/folders (recipe.py).

    Parameters
    ----------
    sources : list of path
        MANIFEST.csv files or folders with real/ and synthetic/ sub-folders.
    out : path
        Head JSON to write (atomically).
    detectors : sequence of str
        ``tower`` plus any of ``clip-probe``, ``spectral``.
    fpr : float
        Target false-positive rate of the decision threshold on real photos.
    cache_dir : path, optional
        Feature store root (default ``~/.cache/sleuth/features``).
    seed : int
        Seed of the fold assignment of real photos.
    command : str, optional
        Command line recorded in the head's provenance.
    log : callable, optional
        Progress messages.
    configs : list, optional
        Tower configurations to select from (default recipe.grid()).

    Returns
    -------
    dict
        The head as written (plus private ``_`` keys).
    """
    import datetime

    from . import lofo, recipe, views
    from .dataset import load_many
    from .features import FeatureStore

    log = log or (lambda m: None)
    items, descs = load_many(sources)
    y = np.asarray([it.label for it in items])
    log(f"{len(items)} items ({int(y.sum())} AI, {int((1 - y).sum())} real) from {len(descs)} source(s)")
    store = FeatureStore(cache_dir)
    store.fill(items, views.TRAIN_VARIANTS, progress=lambda i, n: log(f"features {i}/{n}") if i % 100 == 0 or i == n else None)
    data = recipe.load_data(store, items, protocols=("c320q90",), log=log)
    folds = lofo.make_folds(items, seed=seed)
    res = recipe.run_lofo(data, folds, configs or recipe.grid(), fpr=fpr, log=log, detectors=detectors)
    head = recipe.fit_final(data, res, fpr=fpr, detectors=detectors)
    fams, attr = recipe.attribution(data)
    head["families"], head["attribution"] = fams, attr
    head["oof"].update(recipe.oof_figures(items, y, res))
    head["selection"] = {"grid": [[bs, lam, round(s, 6)] for (bs, lam), s in res["grid"].items()], "selected": list(res["config"]),
                         "fusion_sets": {k: round(v, 6) for k, v in res["fusion_grid"].items()},
                         "fused": res["fused_detectors"],
                         "criterion": "mean of pooled AUC, content-matched AUC and TPR at the fold's 1%-FPR decision (c320q90, out-of-fold)"}
    head["provenance"] = {
        "command": command or " ".join(shlex.quote(a) for a in ["sleuth", *sys.argv[1:]]),
        "data": descs, "protocol": views.PROTOCOL_VERSION, "train_variants": list(views.TRAIN_VARIANTS),
        "seed": seed, "fpr_target": fpr, "date": datetime.date.today().isoformat(),
    }
    heads.save(head, out)
    return head
