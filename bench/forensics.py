"""Benchmark: image-level decision, localisation, false alarms, scaling attacks, speed.

Run: ``.venv/bin/python bench/forensics.py --calibrate`` (fits sleuth/data/forensics/decision.json
from the *development* split: library code in :mod:`sleuth.forensics.decision`), then
``.venv/bin/python bench/forensics.py`` (reports the *test* split into docs/benchmarks.md).
``--per-host N`` (default 2, full 5) sets how many tamperings each host photo gets,
``--max-hosts N`` bounds the hosts per split, ``--jobs`` the worker processes.

Design
------
* Data (read-only): ``$SLEUTH_DATA`` or ``../shared/data``. Host photos: aigen/real (BSDS500,
  Kodak, Urban100, camera JPEGs) and aigen_modern/real (ImageNet, camera crops), centre-cropped
  to <= 1024 px. Hosts are split by a hash of their path: development hosts fit every threshold
  and the stacked decision, test hosts are reported. Each host gets a JPEG history (quality
  65-85), then N of splice (donor with another history), copy-move (rotation +-30 deg, scale
  0.8-1.25), cv2.inpaint removal, resampled paste (x1.2-1.8) and recoloured region, and its
  pristine twin; all saved as JPEG 85/90/95. Every item is seeded by its own name, so a run
  can be resumed and a new analyzer added without regenerating the others.
* Real tampering sets (forensics/MANIFEST.csv): COVERAGE and NoSo odd-numbered pairs are
  development (their originals join the pristine calibration pool: similar-but-genuine objects
  are the hard negatives), even pairs and CASIA/NIST samples are reported.
* Per-image results are cached on disk outside the repository (``$SLEUTH_CACHE`` or
  ~/.cache/sleuth-bench/forensics): image-level scores and maps at <= 192 px for pixel metrics.
* Peers in the same run: the v0.1 fusion (max over per-analyzer logistics with the constants
  v0.1 shipped), raw ELA (Forensically-style |I - JPEG75(I)|), normalised ELA alone, noise alone.
* Scaling attacks (sleuth.attacks.scaling) against nearest/bilinear/bicubic/area, white-box and
  black-box, beside a Decamouflage re-implementation.
* Time: CPU seconds per megapixel per analyzer (process time), median; the machine is shared.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import os
import pickle
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

cv2.setNumThreads(1)

from sleuth.bench.metrics import best_pixel_f1, pixel_auc, pixel_f1, roc_auc, threshold_at_fpr  # noqa: E402
from sleuth.bench.report import md_table, write_section  # noqa: E402
from sleuth.forensics import decision as dec  # noqa: E402
from sleuth.forensics import ela as ela_mod  # noqa: E402
from sleuth.forensics import scaling as sc_mod  # noqa: E402
from sleuth.forensics import synth  # noqa: E402
from sleuth.forensics.common import Result, timed, upsample  # noqa: E402
from sleuth.forensics.evidence import ANALYZERS, analyze_image  # noqa: E402
from sleuth.forensics.sctrain import REAL_DIRS, host_split  # noqa: E402
from sleuth.imageio import load_image  # noqa: E402

DATA = Path(os.environ.get("SLEUTH_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")
CACHE = Path(os.environ.get("SLEUTH_CACHE") or Path.home() / ".cache" / "sleuth-bench" / "forensics")
LOCAL = list(dec.LOCALISERS)
TYPES = ["splice", "copy-move", "inpaint", "resampled-paste", "colour-adjust"]
THRESHOLDS = np.round(np.linspace(0.05, 0.95, 19), 2)
MAP_SIDE = 192
VERSION = "v4"  # bump when an analyzer or the generation changes
# the per-analyzer (centre, width) constants v0.1 shipped in sleuth/forensics/fusion.py: the peer "v0.1 fusion"
V01 = {"ela": (8.262, 0.444), "noise": (6.608, 0.745), "jpeg-ghost": (14.898, 0.933), "jpeg-dq": (1.192, 0.18),
       "copy-move": (13.257, 3.314), "resampling": (4.665, 0.232)}


def is_dev(name: str) -> bool:
    return host_split(name) != "test"


def read_rgb(p: Path, max_side: int | None = None) -> np.ndarray:
    rgb = np.asarray(Image.open(p).convert("RGB"))
    if max_side and max(rgb.shape[:2]) > max_side:
        h, w = rgb.shape[:2]
        y0, x0 = max(0, (h - max_side) // 2), max(0, (w - max_side) // 2)
        rgb = rgb[y0: y0 + max_side, x0: x0 + max_side]
    return np.ascontiguousarray(rgb)


def real_photos() -> list[Path]:
    out = []
    for sub in REAL_DIRS:
        out += sorted(p for p in (DATA / sub).glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return out


def manifest_hashes() -> dict:
    return {k: hashlib.sha256((DATA / k / "MANIFEST.csv").read_bytes()).hexdigest()
            for k in ("aigen", "aigen_modern", "forensics") if (DATA / k / "MANIFEST.csv").is_file()}


# ------------------------------------------------------------------------------ per-image analysis

def _small(m: np.ndarray | None, shape) -> np.ndarray | None:
    return None if m is None else np.round(upsample(m, *shape) * 255).astype(np.uint8)


def analyse(source, mask: np.ndarray | None, names=None) -> dict:
    """Analyzers on one image: image-level results and <= 192 px maps when tampered (``names``:
    only these analyzers, to add a new one to a cached item)."""
    img = load_image(source)
    names = list(names or (list(ANALYZERS) + ["ela-raw"]))
    rs = analyze_image(img, None, tuple(n for n in names if n != "ela-raw"))
    if "ela-raw" in names:
        rs = {**rs, "ela-raw": timed("ela-raw", lambda: ela_mod.analyze(img.rgb, raw=True))}
    h, w = img.height, img.width
    # stacked features per analyzer (from the full-size maps), so an analyzer added later joins a cached item
    out = {"mp": h * w / 1e6, "results": {}, "afeat": {n: dec.analyzer_features(n, r) for n, r in rs.items()}}
    if "jpeg-dq" in rs:
        out["ctx"] = dec.context_features(rs)
    s = min(1.0, MAP_SIDE / max(h, w))
    shape = (max(1, round(h * s)), max(1, round(w * s)))
    if mask is not None:
        out["mask"] = cv2.resize(mask.astype(np.uint8), shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
    for n, r in rs.items():
        heat = r.heat if r.status == "ok" else None
        # image_features needs the share of the map above 0.5: measured on the full map here
        det = {**r.details, "_area": float((heat > 0.5).mean()) if heat is not None and heat.size else 0.0}
        out["results"][n] = Result(n, heat=_small(heat, shape) if mask is not None else None, score=r.score,
                                   reliable=r.reliable, reason=r.reason, status=r.status, details=det,
                                   seconds=r.seconds, cpu_seconds=r.cpu_seconds)
    return out


def cached(key: str, make, extra=()) -> dict:
    """Per-image results from the disk cache; analyzers missing from a cached item are added."""
    p = CACHE / VERSION / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".pkl")
    want = list(ANALYZERS) + ["ela-raw"] + list(extra)
    out = pickle.loads(p.read_bytes()) if p.is_file() else None
    missing = want if out is None else [n for n in want if n not in out["results"]]
    if not missing:
        return out
    src, mask = make()
    new = analyse(src, mask, missing)
    if out is None:
        out = new
    else:  # an added analyzer: its results and stacked features join
        out["results"].update(new["results"])
        out["afeat"].update(new["afeat"])
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(pickle.dumps(out))
    tmp.replace(p)
    return out


# ------------------------------------------------------------------------------ generation

def _rng(*parts) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16], 16))


def make_generated(host_path: str, kind: str, donor_path: str):
    rng = _rng(host_path, kind)
    qh = int(rng.integers(65, 86))
    host = synth.jpeg_history(read_rgb(Path(host_path), 1024), qh)
    qf = int(rng.choice([85, 90, 95]))
    if kind == "pristine":
        return synth.pristine(host, rng, qf)
    donor = read_rgb(Path(donor_path), 1024)
    if kind == "splice":
        qd = None if rng.random() < 1 / 3 else int(rng.choice([q for q in range(50, 96, 5) if abs(q - qh) >= 10]))
        return synth.splice(host, donor, rng, qd, qf)
    if kind == "copy-move":
        return synth.copy_move(host, rng, float(rng.uniform(-30, 30)), float(rng.uniform(0.8, 1.25)), qf)
    if kind == "inpaint":
        return synth.inpaint_removal(host, rng, qf)
    if kind == "resampled-paste":
        return synth.resampled_paste(host, donor, rng, float(rng.uniform(1.2, 1.8)), qf)
    return synth.colour_adjust(host, rng, float(rng.uniform(0.6, 1.6)), float(rng.uniform(0.5, 1.6)),
                               float(rng.uniform(0.8, 1.2)), qf)


def generated_jobs(hosts: list[Path], photos: list[Path], per_host: int) -> list[tuple]:
    jobs = []
    for i, p in enumerate(hosts):
        donor = photos[(photos.index(p) + 1 + i * 7) % len(photos)]
        kinds = ["pristine"] + [TYPES[(i + k) % len(TYPES)] for k in range(per_host)]
        jobs += [("gen", str(p), k, str(donor)) for k in kinds]
    return jobs


def load_mask(p: Path) -> np.ndarray:
    a = np.asarray(Image.open(p).convert("L"))
    return a > (127 if a.max() > 1 else 0)


def real_is_dev(ds: str, relpath: str) -> bool:
    if ds not in ("COVERAGE", "NoSo"):
        return False
    m = re.search(r"/(\d+)", relpath.split("/", 2)[-1])
    return bool(m) and int(m.group(1)) % 2 == 1


def real_jobs() -> list[tuple]:
    rows = [r for r in csv.DictReader(open(DATA / "forensics" / "MANIFEST.csv", encoding="utf-8"))
            if r["collection"] == "manipulation" and r["kind"] not in ("mask", "pristine")]
    jobs, seen = [], set()
    for r in rows:
        ds, dev = r["dataset_or_source"], real_is_dev(r["dataset_or_source"], r["relpath"])
        jobs.append(("real", r["relpath"], r["kind"], r["mask_relpath"], ds, dev))
        if r["original_relpath"] and r["original_relpath"] not in seen:
            seen.add(r["original_relpath"])
            jobs.append(("real", r["original_relpath"], "original", "", ds, dev))
    return jobs


def run_job(job: tuple) -> dict:
    if job[0] == "gen":
        host, kind, donor = job[1:4]
        def make():
            b, m = make_generated(host, kind, donor)
            return b, (m if m.any() else None)
        it = cached(f"gen|{host}|{kind}|{donor}", make, job[4:])
        it.update(name=host, kind=kind, pristine=kind == "pristine", dev=is_dev(os.path.relpath(host, DATA)), dataset="generated")
        return it
    rel, kind, mrel, ds, dev = job[1:6]
    p = DATA / "forensics" / rel

    def make_real():
        mask = load_mask(DATA / "forensics" / mrel) if mrel else None
        if mask is not None and mask.shape[::-1] != Image.open(p).size:
            mask = None
        return p, mask
    try:
        it = cached(f"real|{rel}|{mrel}", make_real, job[6:])
    except Exception as exc:  # noqa: BLE001 - a broken file is reported and skipped
        print(f"{rel}: {exc}", file=sys.stderr)
        return {}
    it.update(name=rel, kind=kind, pristine=kind == "original", dev=dev, dataset=ds)
    return it


def run_all(jobs: list[tuple], n_jobs: int, tag: str) -> list[dict]:
    t0 = time.time()
    out = []
    if n_jobs > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(n_jobs) as pool:
            for k, it in enumerate(pool.imap(run_job, jobs, chunksize=4)):
                out.append(it)
                if k % 200 == 0:
                    print(f"[{tag}] {k}/{len(jobs)} {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    else:
        out = [run_job(j) for j in jobs]
    return [it for it in out if it]


# ------------------------------------------------------------------------------ scores and metrics

def features_of(it: dict, analyzers=None) -> np.ndarray:
    """The stacked decision's feature row of a cached item (columns of ``dec.feature_names(analyzers)``)."""
    names = LOCAL if analyzers is None else analyzers
    return np.asarray([v for n in names for v in it["afeat"][n]] + it["ctx"] + dec.copymove_features(it["results"].get("copy-move")),
                      np.float64)


def v01_score(it: dict) -> float:
    ps = [0.0] + [_p(it["results"][n], cw) for n, cw in V01.items() if it["results"][n].status == "ok"]
    sc = it["results"]["scaling-attack"]
    if sc.status == "ok":  # from the cached raw scores with the current scaling calibration
        raw = {"consistency": sc.details["consistency"], "blockiness": sc.details.get("blockiness", 0.0),
               "spectral": sc.details["spectral_peak"]}
        ps.append(sc_mod.decide(raw, sizes_known=False)[0])
    return float(max(ps))


def raw_score(it: dict, n: str) -> float:
    r = it["results"][n]
    if r.status != "ok" or r.score is None:
        return -np.inf
    if n == "jpeg-dq" and not r.details.get("double_compressed"):
        return 0.0
    return float(r.score)


def fused_map(it: dict, cal, names=None) -> np.ndarray | None:
    """Confidence-weighted mean of the analyzers' maps (``names``, default all); ``cal(name, result)`` gives each p."""
    from sleuth.forensics.fusion import MAP_FLOOR

    num, tot = None, 0.0
    for n in names or LOCAL:
        r = it["results"][n]
        if r.status != "ok" or r.heat is None:
            continue
        p = cal(n, r)
        m = r.heat.astype(np.float32) / 255
        num = (p + MAP_FLOOR) * m if num is None else num + (p + MAP_FLOOR) * m
        tot += p + MAP_FLOOR
    return None if num is None else np.clip(num / max(tot, 1e-6), 0, 1)


def _p(r: Result, cw) -> float:
    if cw is None or r.score is None or (r.name == "jpeg-dq" and not r.details.get("double_compressed")):
        return 0.0
    if r.name == "copy-move" and r.score <= 0:
        return 0.0
    p = float(1 / (1 + np.exp(-np.clip((r.score - cw[0]) / cw[1], -50, 50))))
    return p if r.reliable or r.name == "jpeg-dq" else 0.5 * p


def columns(items: list[dict], d: dec.Decision) -> None:
    """Per item: image-level score per column (analyzers, peers, stacked) and map per column."""
    x = np.array([features_of(it, [n[: -len(":ran")] for n in d.features if n.endswith(":ran")]) for it in items])
    stacked = d.probability(x) if len(items) else np.zeros(0)
    for it, s in zip(items, stacked, strict=False):
        it["cpu"] = {n: r.cpu_seconds for n, r in it["results"].items()}
        it["score"] = {n: raw_score(it, n) for n in LOCAL + ["ela-raw"]}
        it["score"]["v0.1 fusion"] = v01_score(it)
        it["score"]["stacked"] = float(s)
        if "mask" in it:
            it["maps"] = {n: (None if it["results"][n].heat is None else it["results"][n].heat.astype(np.float32) / 255)
                          for n in LOCAL + ["ela-raw"]}
            new = {n: (c["threshold"], c["width"]) for n, c in d.analyzers.items()}
            it["maps"]["stacked"] = fused_map(it, lambda n, r, new=new: _p(r, new.get(n)))
            it["maps"]["v0.1 fusion"] = fused_map(it, lambda n, r: _p(r, V01.get(n)), list(V01))


def pix(it: dict, col: str):
    m = it["maps"].get(col)
    mask = it["mask"]
    hm = np.zeros(mask.shape, np.float32) if m is None else m
    return pixel_auc(mask, hm), best_pixel_f1(mask, hm)[0], [pixel_f1(mask, hm, t) for t in THRESHOLDS]


# ------------------------------------------------------------------------------ dense copy-move (side evaluation)

DENSE = "dense-copy-move"


def dense_jobs(jobs: list[tuple], items: list[dict], n: int, kinds=("pristine", "copy-move")) -> list[tuple]:
    """The jobs of up to ``n`` generated items of each kind plus every real item, with the dense analyzer added."""
    out, count = [], {}
    for j in jobs:
        if j[0] == "gen":
            k = j[2]
            if k in kinds and count.get(k, 0) < n:
                count[k] = count.get(k, 0) + 1
                out.append(j + (DENSE,))
        else:
            out.append(j + (DENSE,))
    return out


def dense_calibration(jobs: list[tuple], args) -> dict:
    items = run_all(dense_jobs(jobs, [], args.dense_n, ("pristine",)), args.jobs, "dense-dev")
    pri = [it for it in items if it["pristine"] and it["dev"]]
    return dec.fit_analyzer_calibration({DENSE: [it["results"][DENSE].score for it in pri if it["results"][DENSE].status == "ok"]})


def dense_table(items: list[dict], d: dec.Decision, thr: dict) -> str:
    t_dense = d.analyzers.get(DENSE, {}).get("threshold", np.inf)
    rows = []
    groups = [("generated copy-move", [it for it in items if it["dataset"] == "generated" and it["kind"] == "copy-move"]),
              ("generated pristine twins", [it for it in items if it["dataset"] == "generated" and it["pristine"]])]
    groups += [(f"{ds} {'originals' if p else 'forged'}", [it for it in items if it["dataset"] == ds and it["pristine"] == p])
               for ds in sorted({it["dataset"] for it in items if it["dataset"] != "generated"}) for p in (False, True)]
    for name, its in groups:
        if not its:
            continue
        kp = [raw_score(it, "copy-move") > thr["copy-move"] for it in its]
        dn = [float(it["results"][DENSE].score or 0) > t_dense for it in its]
        row = {"set": name, "n": len(its), "keypoint flags": float(np.mean(kp)), "dense flags": float(np.mean(dn)),
               "either": float(np.mean([a or b for a, b in zip(kp, dn, strict=False)])), "only keypoint": int(sum(a and not b for a, b in zip(kp, dn, strict=False))),
               "only dense": int(sum(b and not a for a, b in zip(kp, dn, strict=False))), "both": int(sum(a and b for a, b in zip(kp, dn, strict=False)))}
        wm = [it for it in its if "mask" in it and it["results"][DENSE].heat is not None]
        if wm:
            row["dense pixel AUC"] = float(np.nanmedian([pixel_auc(it["mask"], it["results"][DENSE].heat.astype(np.float32) / 255) for it in wm]))
            row["dense best F1"] = float(np.nanmedian([best_pixel_f1(it["mask"], it["results"][DENSE].heat.astype(np.float32) / 255)[0] for it in wm]))
        rows.append(row)
    cpu = [it["results"][DENSE].cpu_seconds / it["mp"] for it in items]
    return ("### Dense-field copy-move beside the keypoint method (test split)\n\n"
            + md_table(rows, ["set", "n", "keypoint flags", "dense flags", "either", "only keypoint", "only dense", "both",
                              "dense pixel AUC", "dense best F1"])
            + f"\n\nThresholds: each method's own 1% point on development pristine images (dense: "
              f"{d.analyzers.get(DENSE, {}).get('n', 0)} development pristine twins and COVERAGE/NoSo odd originals). "
              "'flags' on forged sets is the detection rate, on pristine/original sets the false-alarm rate. Dense-field "
              f"CPU: {np.median(cpu):.2f} s/MP (median); it is opt-in (`dense_copy_move_enabled`) and not in the stacked decision.\n")


# ------------------------------------------------------------------------------ scaling attacks

SC_METHODS = ["nearest", "bilinear", "bicubic", "area"]
SIZES_BB = [(200, 150), (176, 176), (240, 180), (150, 200)]  # none of them in the detector's default list


def decamouflage_mse(rgb: np.ndarray, hw, method: str) -> float:
    """Decamouflage's scaling detection: MSE between the image and up(down(image)) (known size and algorithm)."""
    from sleuth.attacks.scaling import INTERP

    g = rgb.astype(np.float32)
    d = cv2.resize(g, (hw[1], hw[0]), interpolation=INTERP[method])
    u = cv2.resize(d, (g.shape[1], g.shape[0]), interpolation=INTERP[method])
    return float(np.mean((g - u) ** 2))


def scaling_job(job: tuple) -> list[dict]:
    """One photo -> clean and attacked rows (cached), for one method and one size setting."""
    name, tgt_name, method, blackbox, i = job
    key = f"scaling|{name}|{tgt_name}|{method}|{blackbox}"
    p = CACHE / VERSION / ("sc" + hashlib.sha256(key.encode()).hexdigest()[:24] + ".pkl")
    if p.is_file():
        return pickle.loads(p.read_bytes())
    from sleuth.attacks.scaling import scaling_attack

    rng = _rng(key)
    th, tw = SIZES_BB[i % len(SIZES_BB)] if blackbox else (int(rng.choice([128, 160, 224, 256])),) * 2
    ratio = float(rng.choice([2.5, 3.0, 4.0, 5.0]))
    H, W = int(th * ratio), int(tw * ratio)
    src0 = read_rgb(Path(name))
    src = cv2.resize(src0, (W, H), interpolation=cv2.INTER_AREA if src0.shape[0] > H else cv2.INTER_CUBIC)
    tgt = cv2.resize(read_rgb(Path(tgt_name)), (tw, th), interpolation=cv2.INTER_AREA)
    att = scaling_attack(src, tgt, method)
    rows = []
    for label, im in (("clean", src), ("attack", att)):
        t0 = time.process_time()
        r = sc_mod.scores(im, False, None if blackbox else [(th, tw)])
        cpu = time.process_time() - t0
        rows.append({"name": name, "method": method, "label": label, "blackbox": blackbox, "mp": im.shape[0] * im.shape[1] / 1e6,
                     "consistency": r["consistency"], "blockiness": r["blockiness"], "spectral": r["spectral"],
                     "decam": decamouflage_mse(im, (th, tw), method), "cpu": cpu})
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(pickle.dumps(rows))
    return rows


def native_clean_job(name: str) -> dict:
    """A clean photo at its own size, checked black-box (default sizes): false alarms on many sizes."""
    key = f"scaling-native|{name}"
    p = CACHE / VERSION / ("sn" + hashlib.sha256(key.encode()).hexdigest()[:24] + ".pkl")
    if p.is_file():
        return pickle.loads(p.read_bytes())
    img = load_image(Path(name))
    r = sc_mod.scores(img.rgb, img.is_jpeg, None)
    row = {"name": name, "label": "clean", "mp": img.width * img.height / 1e6, **{k: r[k] for k in sc_mod.CHECKS}}
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(pickle.dumps(row))
    return row


def run_scaling(paths: list[Path], blackbox: bool, n_jobs: int) -> list[dict]:
    jobs = [(str(p), str(paths[(i + 1) % len(paths)]), SC_METHODS[i % len(SC_METHODS)], blackbox, i) for i, p in enumerate(paths)]
    if n_jobs > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(n_jobs) as pool:
            return [r for rows in pool.map(scaling_job, jobs, chunksize=2) for r in rows]
    return [r for j in jobs for r in scaling_job(j)]


def scaling_photos(photos: list[Path], dev: bool, n: int) -> list[Path]:
    ps = [p for p in photos if is_dev(os.path.relpath(p, DATA)) == dev and min(Image.open(p).size) >= 320]
    return [ps[int(i)] for i in np.linspace(0, len(ps) - 1, min(n, len(ps)))]


def calibrate_scaling(photos: list[Path], args) -> None:
    wb = run_scaling(scaling_photos(photos, True, args.scaling_n), False, args.jobs)
    bb = run_scaling(scaling_photos(photos, True, args.scaling_n // 2), True, args.jobs)
    native = [native_clean_job(str(p)) for p in scaling_photos(photos, True, args.scaling_n)]
    clean = [r for r in wb + bb if r["label"] == "clean"] + native
    att = [r for r in wb if r["label"] == "attack"]
    meta = {"command": f".venv/bin/python bench/forensics.py --calibrate --scaling-n {args.scaling_n}",
            "data_manifest_sha256": manifest_hashes()}
    # each check is calibrated on the attacks it is meant for: blockiness on area attacks, the others on the rest
    target = {k: [r[k] for r in att if (r["method"] == "area") == (k == "blockiness")] for k in sc_mod.CHECKS}
    out = sc_mod.fit_calibration({k: [r[k] for r in clean] for k in sc_mod.CHECKS}, target, meta)
    print("scaling calibration:", out["checks"], file=sys.stderr)


def _detected(r: dict) -> bool:
    return sc_mod.decide(r, sizes_known=not r.get("blackbox", True))[0] >= 0.5


def scaling_tables(photos: list[Path], args) -> str:
    dev_wb = run_scaling(scaling_photos(photos, True, args.scaling_n), False, args.jobs)
    decam_thr = {m: threshold_at_fpr([r["decam"] for r in dev_wb if r["label"] == "clean" and r["method"] == m], 0.005)
                 for m in SC_METHODS}
    wb = run_scaling(scaling_photos(photos, False, args.scaling_n), False, args.jobs)
    bb = run_scaling(scaling_photos(photos, False, args.scaling_n // 2), True, args.jobs)
    test_photos = [p for p in photos if not is_dev(os.path.relpath(p, DATA))]
    n_native = args.native_n or len(test_photos)
    native = [native_clean_job(str(test_photos[int(i)])) for i in np.linspace(0, len(test_photos) - 1, min(n_native, len(test_photos)))]
    rows = []
    for label, rs in (("white-box (target size known)", wb), ("black-box (size not in the default list)", bb)):
        for m in SC_METHODS + ["all"]:
            sel = [r for r in rs if m == "all" or r["method"] == m]
            att = [r for r in sel if r["label"] == "attack"]
            cln = [r for r in sel if r["label"] == "clean"]
            det_a, det_c = [_detected(r) for r in att], [_detected(r) for r in cln]
            row = {"setting": label, "method": m, "attacks/clean": f"{len(att)}/{len(cln)}",
                   "sleuth accuracy": (sum(det_a) + sum(not x for x in det_c)) / max(1, len(att) + len(cln)),
                   "sleuth detection": float(np.mean(det_a)), "sleuth false alarms": float(np.mean(det_c))}
            if label.startswith("white"):
                dd = [r["decam"] > decam_thr[r["method"]] for r in att]
                dc = [r["decam"] > decam_thr[r["method"]] for r in cln]
                row.update({"Decamouflage accuracy": (sum(dd) + sum(not x for x in dc)) / max(1, len(dd) + len(dc)),
                            "Decamouflage detection": float(np.mean(dd)), "Decamouflage false alarms": float(np.mean(dc))})
            rows.append(row)
    fa_native = float(np.mean([_detected(r) for r in native]))
    mps = [r["mp"] for r in native]
    return ("### Image-scaling attacks (test split)\n\n" + md_table(rows, list(rows[0]) + ["Decamouflage accuracy",
            "Decamouflage detection", "Decamouflage false alarms"][: 0]) +
            f"\n\nFalse alarms on {len(native)} clean test photos at their own sizes ({min(mps):.2f}-{max(mps):.2f} MP, "
            f"checked black-box against the default size list): {fa_native:.3f}. Attacks: sleuth.attacks.scaling on "
            "test photos resized to 2.5-5x the target; area-downscale attacks change the whole picture (PSNR about 12 dB) "
            "and are caught by the blockiness check, which counts only when the target size is known. Decamouflage (Kim et al. 2021) reports 99.9% / 99.8% on its own data; "
            "its scaling-detection method (MSE of image vs up(down(image)), known size and algorithm, threshold at 0.5% of "
            "development clean images) is re-implemented and run on the same images; it needs the target size, so it has "
            f"no black-box row. Scaling check CPU: {np.median([r['cpu'] / r['mp'] for r in wb]):.3f} s/MP (median).\n")


def image_row(tam: list[dict], pri: list[dict], col: str, thr: float) -> dict:
    s_t = [it["score"][col] for it in tam]
    s_p = [it["score"][col] for it in pri]
    y = [1] * len(s_t) + [0] * len(s_p)
    fin = lambda v: [x if np.isfinite(x) else -1e9 for x in v]  # noqa: E731
    return {"image AUC": roc_auc(y, fin(s_t + s_p)) if s_t and s_p else float("nan"),
            "TPR@1%FA": float(np.mean([s > thr for s in s_t])) if s_t else float("nan"),
            "false alarms": float(np.mean([s > thr for s in s_p])) if s_p else float("nan")}


def pixel_row(items: list[dict], col: str, thr_idx: int | None) -> dict:
    v = [it["pix"][col] for it in items if "pix" in it and col in it["pix"]]
    if not v:
        return {}
    return {"pixel AUC": float(np.nanmedian([a for a, _, _ in v])), "best F1": float(np.nanmedian([b for _, b, _ in v])),
            "F1@fixed": float(np.nanmedian([f[thr_idx] for _, _, f in v])) if thr_idx is not None else float("nan")}


def thresholds_from_dev(dev_items: list[dict], d: dec.Decision, cols: list[str]) -> dict:
    """Image-level threshold per column at 1% false alarms on development pristine images."""
    pri = [it for it in dev_items if it["pristine"]]
    thr = {}
    for c in cols:
        if c == "stacked":
            thr[c] = d.threshold
        elif c == "v0.1 fusion":
            thr[c] = 0.5  # v0.1's own decision rule
        else:
            thr[c] = threshold_at_fpr([it["score"][c] for it in pri if np.isfinite(it["score"][c])], dec.TARGET_FPR)
    return thr


# ------------------------------------------------------------------------------ main

def split_items(args, photos):
    dev = [p for p in photos if is_dev(os.path.relpath(p, DATA))]
    test = [p for p in photos if not is_dev(os.path.relpath(p, DATA))]
    sub = lambda ps, n: [ps[int(i)] for i in np.linspace(0, len(ps) - 1, min(n, len(ps)))] if n else ps  # noqa: E731
    return sub(dev, args.max_hosts), sub(test, args.max_hosts)


def stack_data(dev_items: list[dict], analyzers=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, labels and host groups of the development items for the stacked decision."""
    x = np.array([features_of(it, analyzers) for it in dev_items])
    y = np.array([0 if it["pristine"] else 1 for it in dev_items])
    groups = np.array([hashlib.sha256(re.sub(r"(forged|original)/", "", it["name"]).encode()).hexdigest()[:8]
                       if it["dataset"] != "generated" else it["name"] for it in dev_items])
    return x, y, groups


ABLATION = "stacked w/o self-consistency"


def ablation_scores(dev_items: list[dict], groups_of_items: list[list[dict]]) -> float:
    """The stacked decision refitted without the self-consistency analyzer (same development data,
    same procedure, not saved): its score joins every item as the column ``ABLATION``; returns its threshold."""
    names = [n for n in LOCAL if n != "self-consistency"]
    x, y, groups = stack_data(dev_items, names)
    d, _ = dec.fit(x, y, groups, dec.feature_names(names))
    for items in groups_of_items:
        if items:
            p = d.probability(np.array([features_of(it, names) for it in items]))
            for it, s in zip(items, p, strict=True):
                it["score"][ABLATION] = float(s)
    return d.threshold


def calibrate(args, dev_items: list[dict]) -> dec.Decision:
    pri = [it for it in dev_items if it["pristine"]]
    raw = {n: [it["results"][n].score if it["results"][n].status == "ok" else None for it in pri] for n in LOCAL}
    raw["jpeg-dq"] = [(0.0 if not it["results"]["jpeg-dq"].details.get("double_compressed") else it["results"]["jpeg-dq"].score)
                      if it["results"]["jpeg-dq"].status == "ok" else None for it in pri]
    cal = dec.fit_analyzer_calibration(raw)
    cal.update(dense_calibration(args.dev_jobs, args))
    x, y, groups = stack_data(dev_items)
    cmd = "bench/forensics.py --calibrate " + " ".join(f"--{k.replace('_', '-')} {getattr(args, k)}" for k in
                                                        ("per_host", "max_hosts", "scaling_n", "dense_n"))
    meta = {"command": f".venv/bin/python {cmd}", "data_manifest_sha256": manifest_hashes(),
            "training": f"{int((y == 0).sum())} pristine / {int((y == 1).sum())} tampered development images "
                        "(generated from development host photos + COVERAGE/NoSo odd pairs)"}
    d, oof = dec.fit(x, y, groups, dec.feature_names(), analyzers=cal, meta=meta)
    path = dec.save(d)
    print(f"wrote {path}: threshold {d.threshold:.4f}, out-of-fold FPR {d.meta['oof_fpr']:.3f} TPR {d.meta['oof_tpr']:.3f}",
          file=sys.stderr)
    return d


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calibrate", action="store_true", help="fit the decision file from the development split and exit")
    ap.add_argument("--per-host", type=int, default=2, help="tamperings per host photo (full: 5)")
    ap.add_argument("--max-hosts", type=int, default=0, help="hosts per split (0 = all)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--scaling-n", type=int, default=60, help="photos per scaling-attack set")
    ap.add_argument("--native-n", type=int, default=0, help="clean test photos at their own size for scaling false alarms (0 = all)")
    ap.add_argument("--dense-n", type=int, default=60, help="generated items per kind for the dense copy-move side run")
    args = ap.parse_args()
    t_start = time.time()
    photos = real_photos()
    dev_hosts, test_hosts = split_items(args, photos)
    rj = real_jobs()
    real = run_all(rj, args.jobs, "real")
    args.dev_jobs = generated_jobs(dev_hosts, photos, args.per_host) + [j for j in rj if j[5]]
    dev_items = run_all(args.dev_jobs[: -sum(j[5] for j in rj) or None], args.jobs, "dev") + [it for it in real if it["dev"]]
    if args.calibrate:
        calibrate(args, dev_items)
        calibrate_scaling(photos, args)
        return
    d = dec.packaged()
    if d is None:
        sys.exit("no sleuth/data/forensics/decision.json: run with --calibrate first")
    tj = generated_jobs(test_hosts, photos, args.per_host)
    test_items = run_all(tj, args.jobs, "test")
    real_test = [it for it in real if not it["dev"]]
    for group in (dev_items, test_items, real_test):
        columns(group, d)
    cols = LOCAL + ["ela-raw", "v0.1 fusion", "stacked"]
    thr = thresholds_from_dev(dev_items, d, cols)
    thr[ABLATION] = ablation_scores(dev_items, [dev_items, test_items, real_test])
    for it in dev_items + test_items + real_test:
        if "mask" in it and "maps" in it:
            it["pix"] = {c: pix(it, c) for c in cols}
    dev_t = [it for it in dev_items if not it["pristine"] and "pix" in it]
    pix_thr = {c: int(np.argmax(np.mean([it["pix"][c][2] for it in dev_t], axis=0))) for c in cols}
    sc = scaling_tables(photos, args)
    dense_items = run_all(dense_jobs(tj + [j for j in rj if not j[5]], [], args.dense_n), args.jobs, "dense-test")
    sc = dense_table(dense_items, d, thr) + "\n" + sc
    md = report(args, d, thr, pix_thr, dev_items, test_items, real_test, cols, sc, time.time() - t_start)
    print(md)
    write_section("forensics", md)


def report(args, d, thr, pix_thr, dev_items, test_items, real_test, cols, sc, seconds) -> str:
    md = []
    tp = [it for it in test_items if it["pristine"]]
    cmd = (f"bench/forensics.py --per-host {args.per_host} --max-hosts {args.max_hosts} --jobs {args.jobs} "
           f"--scaling-n {args.scaling_n} --native-n {args.native_n} --dense-n {args.dense_n}")
    md.append(f"Command: `OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python {cmd}` after `... --calibrate` with the same "
              f"sizes ({seconds:.0f} s for this run on the shared 2-core machine, per-image results cached). Generated set: "
              f"{len(tp)} test host photos, each with its pristine twin and {args.per_host} tamperings (types rotate over hosts); "
              f"the stacked decision and every threshold come from {sum(it['pristine'] for it in dev_items)} pristine / "
              f"{sum(not it['pristine'] for it in dev_items)} tampered development images (other hosts, split by a hash of "
              "the path; COVERAGE/NoSo odd pairs). Image-level: TPR and false alarms at the threshold that 1% of development "
              "pristine images exceed (stacked: out-of-fold threshold stored in sleuth/data/forensics/decision.json; v0.1 "
              "fusion: its own p >= 0.5 rule). Pixel metrics: medians over tampered images, maps and masks at <= 192 px; "
              "F1@fixed at the map threshold that maximised mean F1 on development tampering. Reduced size for the "
              "shared machine (load average 10-20 during the run): the full size is `--per-host 5 --max-hosts 0 "
              "--scaling-n 60 --native-n 0 --dense-n 60` (every host photo, every tampering type per host).\n")
    md.append(f"Decision file: {d.meta.get('date')}, `{d.meta.get('command')}`; out-of-fold development FPR "
              f"{d.meta.get('oof_fpr', float('nan')):.3f}, TPR {d.meta.get('oof_tpr', float('nan')):.3f}.\n")
    md.append(self_consistency_note())
    md.append("### Image-level TPR at 1% false alarms, per manipulation type (generated, test split)\n")
    rows = []
    for kind in TYPES + ["all"]:
        tam = [it for it in test_items if not it["pristine"] and (kind == "all" or it["kind"] == kind)]
        row = {"type": kind, "n": len(tam)}
        for c in ("stacked", ABLATION, "v0.1 fusion", "self-consistency", "ela", "noise", "jpeg-ghost", "jpeg-dq", "copy-move",
                  "resampling"):
            row[c] = image_row(tam, tp, c, thr[c])["TPR@1%FA"]
        rows.append(row)
    rows.append({"type": "false alarms (pristine twins)", "n": len(tp),
                 **{c: image_row([], tp, c, thr[c])["false alarms"] for c in rows[0] if c not in ("type", "n")}})
    md.append(md_table(rows, list(rows[0])))
    md.append("\n### Generated tampering (test split), per type and analyzer\n")
    rows = []
    for kind in TYPES:
        tam = [it for it in test_items if it["kind"] == kind]
        for c in cols:
            rows.append({"type": kind, "analyzer": c, "n": len(tam), **pixel_row(tam, c, pix_thr[c]),
                         **image_row(tam, tp, c, thr[c])})
    md.append(md_table(rows, ["type", "analyzer", "n", "pixel AUC", "best F1", "F1@fixed", "image AUC", "TPR@1%FA",
                              "false alarms"]))
    md.append("\n### Real tampering sets (reported pairs only)\n\nCOVERAGE and NoSo: even-numbered pairs (odd pairs were "
              "development); CASIA/NIST/Noiseprint samples never served any threshold. COVERAGE originals hold similar "
              "but genuine objects: a detector that fires on them raises a false alarm.\n")
    rows = []
    for ds in sorted({it["dataset"] for it in real_test}):
        its = [it for it in real_test if it["dataset"] == ds]
        tam = [it for it in its if not it["pristine"]]
        orig = [it for it in its if it["pristine"]]
        for c in cols + [ABLATION]:
            rows.append({"dataset": ds, "analyzer": c, "forged/orig": f"{len(tam)}/{len(orig)}",
                         "masks": sum("pix" in it for it in tam), **pixel_row(tam, c, pix_thr.get(c)),
                         **image_row(tam, orig, c, thr[c])})
    md.append(md_table(rows, ["dataset", "analyzer", "forged/orig", "masks", "pixel AUC", "best F1", "F1@fixed", "image AUC",
                              "TPR@1%FA", "false alarms"]))
    allp = tp + [it for it in real_test if it["pristine"]]
    md.append(f"\nFalse alarms over all {len(allp)} pristine test images (generated twins + real originals): "
              + ", ".join(f"{c} {image_row([], allp, c, thr[c])['false alarms']:.3f}" for c in cols + [ABLATION]) + ".\n")
    md.append(sc)
    md.append(timing_table(test_items + real_test))
    return "\n".join(md)


def self_consistency_note() -> str:
    import json

    from sleuth.forensics import selfconsistency

    meta = json.loads(selfconsistency.load_weights().get("meta", "{}"))
    kb = selfconsistency.WEIGHTS.stat().st_size / 1024
    return (f"Self-consistency weights: `{meta.get('command')}` ({meta.get('date')}; {meta.get('photos')} real photos of "
            f"half of the development split, {meta.get('steps')} steps, {meta.get('seconds')} s of training; {kb:.0f} KB). The "
            "other development half and every test host were never seen by the embedding. Column "
            f"'{ABLATION}' is the stacked decision refitted on the same development data without that analyzer.\n")


def timing_table(items: list[dict]) -> str:
    names = list(ANALYZERS) + ["ela-raw"]
    tier = list(ANALYZERS)
    rows = [{"analyzer": n, "s/MP (all)": float(np.median([it["cpu"][n] / it["mp"] for it in items if n in it["cpu"]]))}
            for n in names]
    big = [it for it in items if it["mp"] >= 0.9]
    for r in rows:
        r["s/MP (>= 0.9 MP)"] = float(np.median([it["cpu"][r["analyzer"]] / it["mp"] for it in big])) if big else float("nan")
    tot = lambda its: float(np.median([sum(it["cpu"][n] for n in tier) / it["mp"] for it in its])) if its else float("nan")  # noqa: E731
    rows.append({"analyzer": "whole forensic tier", "s/MP (all)": tot(items), "s/MP (>= 0.9 MP)": tot(big)})
    return ("### CPU time per megapixel (median, process time, shared machine)\n\n" + md_table(rows, list(rows[0]))
            + f"\n\n{len(items)} images, median {np.median([it['mp'] for it in items]):.2f} MP; {len(big)} of them "
              ">= 0.9 MP. Fixed costs (SIFT set-up, block matching at 512 px) weigh more per MP on small images.\n")


if __name__ == "__main__":
    main()
