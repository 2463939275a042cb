"""Scale-out benchmark: Ray engine vs the local engine, and the sharded FAISS build.
Writes the ``scale`` section of docs/benchmarks.md.

    .venv/bin/python bench/scale.py                         # defaults below (about 10-15 min on 2 cores)
    .venv/bin/python bench/scale.py --vectors 10000000      # the issue's full 10M build
    .venv/bin/python bench/scale.py --skip-build / --skip-throughput

Throughput: ``scan --fast`` and ``index add`` (SSCD + PDQ + SIFT features) on synthetic
photo-like images (``sleuth.examples.photo_like``, 384x512 JPEG) with ``--engine local`` (one
process, and a pool of 2) and ``--engine ray`` with a local Ray of 1 and of 2 CPUs (one actor per
CPU). Each timing is the job's wall time with the Ray cluster already up (actor start-up and
model loads included); the median of ``--repeats`` runs. The load average is printed with the
table: this machine is shared.

Index build: ``--vectors`` synthetic SSCD-sized (512-d, L2-normalised, clustered) vectors in
shards of ``--shard`` built with :func:`sleuth.copydetect.build.build` on a 2-CPU local Ray
(one task per shard): time per phase, driver peak RSS, index bytes per vector, recall@10 against
exact search for ``--queries`` near-copy queries, and single-thread query latency p50/p95.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("SLEUTH_ORT_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from sleuth.bench.report import md_table, write_section  # noqa: E402


def make_images(folder: Path, n: int) -> list[str]:
    from PIL import Image

    from sleuth.examples import photo_like

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = folder / f"img{i:05d}.jpg"
        if not p.exists():
            Image.fromarray(photo_like(384, 512, 1000 + i)).save(p, "JPEG", quality=88)
        out.append(str(p))
    return out


def load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def time_local(kind: str, items: list[str], jobs: int, work: Path) -> float:
    from sleuth.copydetect.index import CopyIndex
    from sleuth.pipeline import scan_many

    t = time.perf_counter()
    if kind == "scan":
        for _ in scan_many(items, jobs=jobs, tier="fast"):
            pass
    else:
        root = work / f"local-{time.time_ns()}.idx"
        CopyIndex.create_or_open(root).add(items)
        shutil.rmtree(root)
    return time.perf_counter() - t


def time_ray(kind: str, items: list[str], workers: int, work: Path) -> float:
    from sleuth.copydetect.index import CopyIndex
    from sleuth.engine import index_add_ray, scan_ray
    from sleuth.engine.ray_engine import LAST_RUN

    t = time.perf_counter()
    if kind == "scan":
        for _ in scan_ray(items, tier="fast", workers=workers, shard_size=64):
            pass
    else:
        root = work / f"ray-{time.time_ns()}.idx"
        index_add_ray(CopyIndex.create_or_open(root), items, workers=workers, shard_size=8)
        shutil.rmtree(root)
    wall = time.perf_counter() - t
    steady = (LAST_RUN["rows"] - LAST_RUN["first_rows"]) / max(1e-9, LAST_RUN["last"] - LAST_RUN["first"])
    return wall, steady


def throughput(args, work: Path) -> str:
    from sleuth.engine.ray_engine import ray_session

    imgs = make_images(work / "imgs", max(args.scan_images, args.add_images))
    sets = {"scan": imgs[: args.scan_images], "index-add": imgs[: args.add_images]}
    rows, loads = [], []
    res: dict[tuple[str, str], float] = {}
    for kind, items in sets.items():
        for jobs in (1, 2):
            ts = [time_local(kind, items, jobs, work) for _ in range(args.repeats)]
            res[(kind, f"local j{jobs}")] = statistics.median(ts)
    steady: dict[tuple[str, str], float] = {}
    for cpus in (1, 2):
        with ray_session(num_cpus=cpus):
            for kind, items in sets.items():
                runs = [time_ray(kind, items, cpus, work) for _ in range(args.repeats)]
                res[(kind, f"ray {cpus}")] = statistics.median(r[0] for r in runs)
                steady[(kind, f"ray {cpus}")] = statistics.median(r[1] for r in runs)
                loads.append(load())
    for kind, items in sets.items():
        n = len(items)
        ips = {k: n / v for (kk, k), v in res.items() if kk == kind}
        st = {k: v for (kk, k), v in steady.items() if kk == kind}
        rows.append({"job": kind, "images": n, "local 1 proc img/s": ips["local j1"], "local 2 procs img/s": ips["local j2"],
                     "ray 1 worker img/s": ips["ray 1"], "ray 2 workers img/s": ips["ray 2"],
                     "ray 1 steady img/s": st["ray 1"], "ray 2 steady img/s": st["ray 2"],
                     "ray 2/1 steady": st["ray 2"] / st["ray 1"], "ray 1 steady vs local 1 overhead": ips["local j1"] / st["ray 1"] - 1})
    return (f"Throughput (`{' '.join(sys.argv)}`; {args.repeats} run(s) each, median; `img/s` = images / job wall time "
            "with the Ray cluster already up (actor start-up and model loads included); `steady` = rate from the first "
            "result batch to the last (start-up excluded; indicative only: a run of this size gives each actor a few batches); load average (1/5/15 min) after each Ray run "
            f"{'; '.join(loads)}):\n\n" + md_table(rows, floatfmt=".2f"))


def exact_topk(sources, q: np.ndarray, k: int) -> np.ndarray:
    best_s = np.full((len(q), k), -np.inf, np.float32)
    best_i = np.full((len(q), k), -1, np.int64)
    for src in sources:
        x, ids = src()
        s = q @ x.T
        top = np.argpartition(-s, k, axis=1)[:, :k]
        cs = np.concatenate([best_s, np.take_along_axis(s, top, 1)], 1)
        ci = np.concatenate([best_i, ids[top]], 1)
        o = np.argsort(-cs, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(cs, o, 1), np.take_along_axis(ci, o, 1)
    return best_i


def index_build(args, work: Path) -> str:
    import faiss

    from sleuth.copydetect import build as B

    n, dim, shard = args.vectors, 512, args.shard
    sources = [partial(B.synthetic_source, s, min(shard, n - lo), dim, lo) for s, lo in enumerate(range(0, n, shard))]
    t = time.perf_counter()
    idx, plan, timings = B.build(sources, n, dim, work / "build", memory_budget=args.budget_mb << 20,
                                 force_ivf=not args.auto_plan, engine="ray", num_cpus=2)
    total = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    faiss.write_index(idx, str(work / "merged.faiss"))
    size = (work / "merged.faiss").stat().st_size + sum(p.stat().st_size for p in (work / "build").glob("*.ivfdata"))
    rng = np.random.default_rng(99)
    qi = rng.choice(n, args.queries, replace=False)
    base = np.concatenate([sources[i // shard]()[0][[i % shard]] for i in qi])
    q = base + 0.3 / np.sqrt(dim) * rng.standard_normal(base.shape).astype(np.float32)
    q = np.ascontiguousarray(q / np.linalg.norm(q, axis=1, keepdims=True), np.float32)
    want = exact_topk(sources, q, 10)
    faiss.omp_set_num_threads(1)
    lat, got = [], []
    for row in q:
        t0 = time.perf_counter()
        _, ii = idx.search(row[None], 10)
        lat.append((time.perf_counter() - t0) * 1000)
        got.append(ii[0])
    got = np.array(got)
    recall10 = float(np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, want, strict=False)]))
    src_in10 = float(np.mean([qi[j] in set(got[j]) for j in range(len(qi))]))
    row = {"vectors": n, "shards": len(sources), "factory": plan.factory, "nprobe": plan.nprobe, "merge": plan.merge,
           "train s": timings["train"], "add s": timings["add"], "merge s": timings["merge"], "total s": round(total, 1),
           "driver peak RSS MiB": rss / 2**20, "index bytes/vector": size / n, "recall@10 vs exact": recall10,
           "source in top-10": src_in10, "query p50 ms": float(np.percentile(lat, 50)), "query p95 ms": float(np.percentile(lat, 95))}
    return (f"Sharded index build (`{' '.join(sys.argv)}`, {n:,} synthetic 512-d vectors, shards of {shard:,}, 2-CPU local Ray, "
            f"memory budget {args.budget_mb} MiB; load average after: {load()}):\n\n" + md_table([row], floatfmt=".2f"))


def _md_rows(md: str) -> list[dict[str, str]]:
    lines = [ln for ln in md.splitlines() if ln.startswith("|")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(head, (c.strip() for c in ln.strip("|").split("|")), strict=False)) for ln in lines[2:]]


def projection(work: Path, cores_per_node: int = 64) -> str:
    """Cluster size and time for 100M and 1B images from the measured per-worker figures:
    linear scaling in workers (the measured 1 -> 2 ratio says how close that is), the index plan
    of :func:`sleuth.copydetect.build.plan` for a 64 GiB budget, and the add cost per vector
    scaled by the number of inverted lists (assignment dominates it)."""
    from sleuth.copydetect import build as B

    tp = {r["job"]: r for r in _md_rows((work / "throughput.md").read_text())}
    bd = _md_rows((work / "build.md").read_text())[0]
    # per-core figures: the single-process local rate (the same per-image code the Ray actors run,
    # without their start-up, which a long job amortises); the steady Ray rates span too few batches
    add_ips = float(tp["index-add"]["local 1 proc img/s"])
    scan_ips = float(tp["scan"]["local 1 proc img/s"])
    n_meas, shards = int(bd["vectors"]), int(bd["shards"])
    nlist_meas = int(bd["factory"].split(",")[0][3:])
    vec_core_s = float(bd["add s"]) * min(2, shards) / n_meas  # 2 CPUs ran the shard tasks
    rows = []
    for n in (100_000_000, 1_000_000_000):
        p = B.plan(n, 512, 64 << 30)
        for nodes in (10, 100):
            cores = nodes * cores_per_node
            rows.append({"images": f"{n:,}", "nodes x cores": f"{nodes} x {cores_per_node}",
                         "index add h": n / (add_ips * cores) / 3600, "scan --fast h": n / (scan_ips * cores) / 3600,
                         "FAISS add h": n * vec_core_s * p.nlist / nlist_meas / cores / 3600,
                         "index": p.factory, "index GiB": n * p.bytes_per_vector / 2**30})
    return ("Projection (linear in cores from the single-process rates above: index add "
            f"{add_ips:.2f} img/s, scan --fast {scan_ips:.2f} img/s per core on this loaded machine; FAISS add "
            f"{vec_core_s * 1e6:.1f} us per vector per core at {nlist_meas} lists, scaled by the planned list count; "
            "64 GiB index budget):\n\n" + md_table(rows, floatfmt=".1f"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scan-images", type=int, default=400)
    ap.add_argument("--add-images", type=int, default=96)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--vectors", type=int, default=1_000_000)
    ap.add_argument("--shard", type=int, default=100_000)
    ap.add_argument("--budget-mb", type=int, default=4096)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--auto-plan", action="store_true", help="let the plan choose Flat below 500k vectors (default: IVF-PQ)")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="sleuth-scale-"))
    # each part's table is kept in the work folder, so a rerun with --skip-* keeps the other part
    for name, fn, skip in (("throughput", throughput, args.skip_throughput), ("build", index_build, args.skip_build)):
        if not skip:
            md = fn(args, work)
            (work / f"{name}.md").write_text(md)
            print(md, flush=True)
    parts = [(work / f"{n}.md").read_text() for n in ("throughput", "build") if (work / f"{n}.md").exists()]
    if len(parts) == 2:
        parts.append(projection(work))
        print(parts[-1], flush=True)
    if not args.no_write and parts:
        write_section("scale", "## scale\n\n" + "\n\n".join(parts) + "\n\nThe `steady` columns span a few batches per actor at these sizes and are indicative only. "
                      "How the projection is made, and what it leaves out: docs/scaling.md.")


if __name__ == "__main__":
    main()
