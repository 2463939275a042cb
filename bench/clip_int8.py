"""The CLIP tower's int8 kernels: the build as shipped vs exact integer matmuls, on this CPU.

Writes the ``clip-int8`` section of docs/benchmarks.md.

    .venv/bin/python bench/clip_int8.py              # 20 camera + 40 ImageNet real photos, 24 generated
    .venv/bin/python bench/clip_int8.py --n 0        # every real and generated aigen_modern image

For each image the shipped detector head is run twice, once on the tower as shipped (int8 weights:
ONNX Runtime's U8S8 kernel, which saturates on CPUs without VNNI) and once on the exact tower that
sleuth uses (:func:`sleuth.detect.backbone.exact_int8`): cosine of the two projections, probability
of each, the decision at the head's 1%-FPR threshold, and seconds per tower forward (median).
"""
from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from sleuth.bench.report import machine_line, md_table, write_section  # noqa: E402


def _cpu_flags() -> str:
    try:
        flags = next(ln for ln in open("/proc/cpuinfo") if ln.startswith("flags")).split()
    except (OSError, StopIteration):
        return "unknown"
    have = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if f in flags]
    return ", ".join(have) or "none of avx2/avx512/vnni"


def _items(root: Path, n: int) -> list[tuple[str, Path]]:
    rows = list(csv.DictReader(open(root / "MANIFEST.csv")))
    cam = [r for r in rows if r["relpath"].startswith("real/camera/")]
    inet = [r for r in rows if r["relpath"].startswith("real/imagenet/")]
    syn = [r for r in rows if r["label"] == "synthetic"]
    if n:
        inet, syn = inet[: 2 * n], syn[:: max(1, len(syn) // (n + n // 5))][: n + n // 5]
    return [(("camera" if r in cam else "imagenet" if r in inet else "generated"), root / r["relpath"])
            for r in cam + inet + syn]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20, help="ImageNet photos = 2n, generated = 1.2n (0: all)")
    args = ap.parse_args()
    from sleuth.bench import data_dir
    from sleuth.detect.detector import SHIPPED_HEAD, AigenDetector
    from sleuth.detect.tower import ClipTower
    from sleuth.imageio import load_image

    items = _items(data_dir() / "aigen_modern", args.n)
    dets = {}
    for name, exact in (("shipped int8", False), ("exact", True)):
        dets[name] = AigenDetector(SHIPPED_HEAD, tower=ClipTower(threads=1, exact=exact))
    res: dict[str, list] = {k: [] for k in dets}
    cos, secs = [], {k: [] for k in dets}
    for i, (group, path) in enumerate(items):
        img = load_image(path)
        embs = {}
        for name, d in dets.items():
            r = d.analyse(img, with_map=False)
            res[name].append((group, r.probability, r.is_ai))
            crop = np.asarray(img.rgb[:224, :224]) if min(img.rgb.shape[:2]) >= 224 else None
            if crop is not None:
                t = time.perf_counter()
                embs[name] = d.tower.encode(crop)["emb"]
                secs[name].append(time.perf_counter() - t)
        if len(embs) == 2:
            cos.append(float(np.dot(*embs.values())))
        print(f"\r{i + 1}/{len(items)}", end="", file=sys.stderr)
    print(file=sys.stderr)
    rows = []
    for name in dets:
        row = {"tower": name, "median s/forward": statistics.median(secs[name])}
        for g in ("camera", "imagenet", "generated"):
            rs = [r for r in res[name] if r[0] == g]
            key = "TPR" if g == "generated" else "FPR"
            row[f"{g} n"] = len(rs)
            row[f"{g} {key}"] = float(np.mean([r[2] for r in rs])) if rs else float("nan")
            row[f"{g} median P(AI)"] = float(np.median([r[1] for r in rs])) if rs else float("nan")
        rows.append(row)
    flips = sum(a[2] != b[2] for a, b in zip(*res.values(), strict=True))
    cmd = "OMP_NUM_THREADS=1 .venv/bin/python bench/clip_int8.py" + (f" --n {args.n}" if args.n != 20 else "")
    md = (f"## CLIP int8 kernels\n\n_{machine_line()}; CPU flags: {_cpu_flags()}._\n\nCommand: `{cmd}`.\n\n"
          f"aigen_modern images ({len(items)}); the shipped detector head on the tower as shipped and on the "
          "exact tower (weights shifted to uint8, see `sleuth/detect/backbone.py`). FPR/TPR at the head's "
          "1%-FPR threshold. The head was trained on these images (development split): the rows compare the "
          "two towers, they do not estimate the detector's accuracy (that is the aigen section).\n\n" + md_table(rows) +
          f"\n\nCosine between the two towers' projections (224 px corner crop): median {statistics.median(cos):.3f}, "
          f"min {min(cos):.3f}. Decisions that differ between the two: {flips} of {len(items)}. "
          "On a CPU with VNNI both rows should agree (the U8S8 kernel is exact there).\n")
    write_section("clip-int8", md)
    print(md)


if __name__ == "__main__":
    main()
