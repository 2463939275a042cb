"""Provenance benchmark: signal census over ../shared/data, agreement with the forensics
MANIFEST ``kind`` column, known-watermark false positives on real photos, and the speed of the
fast tier next to exiftool and c2pa-python on the same 1 MP JPEGs. Writes the ``provenance``
section of docs/benchmarks.md.

    .venv/bin/python bench/provenance.py            # everything (~3 min on 2 busy cores)
    .venv/bin/python bench/provenance.py --quick    # 40 speed files, 1 timing repeat

exiftool is Debian's ``libimage-exiftool-perl``
(``apt-get update && apt-get install -y libimage-exiftool-perl``); without it that column is
skipped with a note. c2pa-python is timed alone (a Reader on each file, one process, same files).

Data: ``SLEUTH_DATA`` or ``../shared/data`` beside the repository; read only. The 1 MP speed set
is made in ``bench/_work/provenance`` (git-ignored): 1155x866 tiles cut from the real camera
JPEGs of aigen (EXIF kept, so the metadata readers do real work), one in five then signed with a
throw-away C2PA chain so the C2PA path is exercised too. Nothing here tunes a threshold: the
known-watermark FPR is the default 1e-6, fixed before this data was seen.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sleuth.bench import data_dir  # noqa: E402
from sleuth.bench.report import md_table, write_section  # noqa: E402

DATA = data_dir()
WORK = ROOT / "bench" / "_work" / "provenance"
SLEUTH = Path(sys.executable).with_name("sleuth")
IMAGE_EXT = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff", ".bmp", ".heic", ".heif", ".avif"}
FAST = ["c2pa", "generator-metadata", "exif", "known-watermark"]


def data_files() -> list[Path]:
    return sorted(p for p in DATA.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXT)


def labels() -> dict[str, str]:
    """path -> group: aigen-real / aigen-synthetic / forensics-manipulation / forensics-provenance."""
    out = {}
    for sub, col in (("aigen", "label"), ("forensics", "collection")):
        man = DATA / sub / "MANIFEST.csv"
        if man.exists():
            for r in csv.DictReader(open(man)):
                out[str(DATA / sub / r["relpath"])] = f"{sub}-{r[col]}"
    return out


# ----------------------------------------------------------------------------- census

def census(files: list[Path], jobs: int) -> tuple[list, float]:
    from sleuth.pipeline import scan_many

    t = time.perf_counter()
    reps = list(scan_many([str(f) for f in files], jobs=jobs, analyzers=FAST, tier="fast"))
    return reps, time.perf_counter() - t


def signal_rows(reps, group_of) -> tuple[list[dict], dict]:
    groups = sorted({group_of.get(r.path, "other") for r in reps})
    counts: dict[str, Counter] = defaultdict(Counter)
    for r in reps:
        g = group_of.get(r.path, "other")
        counts[g]["files"] += 1
        if r.error:
            counts[g]["load error"] += 1
            continue
        ev = {e.analyzer: e for e in r.evidence}
        c, gm, ex, kw = ev.get("c2pa"), ev.get("generator-metadata"), ev.get("exif"), ev.get("known-watermark")
        if c and c.verdict not in (None, "absent"):
            counts[g]["C2PA manifest (any state)"] += 1
            counts[g][f"C2PA {c.verdict}"] += 1
        if gm and gm.verdict not in (None, "absent"):
            counts[g]["generator metadata"] += 1
        if ex and ex.details.get("exif_present"):
            counts[g]["EXIF"] += 1
        if ex and ex.details.get("make"):
            counts[g]["camera make/model"] += 1
        if ex and (ex.details.get("gps") or {}).get("present"):
            counts[g]["GPS"] += 1
        if ex and ex.details.get("xmp_present"):
            counts[g]["XMP"] += 1
        if ex and ex.details.get("digital_source_type"):
            counts[g]["IPTC DigitalSourceType"] += 1
        if ex and ex.details.get("inconsistencies"):
            counts[g]["EXIF inconsistency"] += 1
        if kw and kw.verdict == "stable-diffusion":
            counts[g]["SD v1/v2 watermark"] += 1
        if kw and kw.verdict == "sdxl":
            counts[g]["SDXL watermark"] += 1
        for e in r.evidence:
            if e.error:
                counts[g][f"{e.analyzer} error entry"] += 1
    signals = ["files", "load error", "C2PA manifest (any state)", "C2PA valid", "C2PA valid-untrusted", "C2PA invalid",
               "C2PA unresolved", "generator metadata", "EXIF", "camera make/model", "GPS", "XMP", "IPTC DigitalSourceType",
               "EXIF inconsistency", "SD v1/v2 watermark", "SDXL watermark", "c2pa error entry"]
    extra = sorted({k for c in counts.values() for k in c} - set(signals))
    rows = [{"signal": s, **{g: counts[g].get(s, 0) for g in groups}, "total": sum(counts[g].get(s, 0) for g in groups)}
            for s in signals + extra]
    gen_tools = Counter()
    for r in reps:
        e = r.get("generator-metadata") if not r.error else None
        if e and e.verdict not in (None, "absent"):
            gen_tools[e.verdict] += 1
    return rows, {"groups": groups, "gen_tools": gen_tools}


def watermark_fp(reps, group_of) -> dict:
    real = [r for r in reps if group_of.get(r.path) in ("aigen-real", "forensics-manipulation") and not r.error]
    checked = [r for r in real if "matched_bits" in (r.get("known-watermark").details.get("sdxl") or {})]
    det = [r.path for r in checked if r.get("known-watermark").verdict != "absent"]
    p = [r.get("known-watermark").p_value for r in checked if r.get("known-watermark").p_value is not None]
    sd_bits = [r.get("known-watermark").details["stable-diffusion"]["matched_bits"] for r in checked]
    xl_bits = [r.get("known-watermark").details["sdxl"]["matched_bits"] for r in checked]
    synth = [r for r in reps if group_of.get(r.path) == "aigen-synthetic" and not r.error]
    synth_det = [(Path(r.path).parent.name, r.get("known-watermark").verdict) for r in synth if r.get("known-watermark").verdict not in ("absent", None)]
    return {"real": len(real), "checked": len(checked), "detections": det, "min_p": min(p) if p else None,
            "max_sd": max(sd_bits) if sd_bits else None, "max_xl": max(xl_bits) if xl_bits else None,
            "synth": len(synth), "synth_det": Counter(synth_det)}


# ----------------------------------------------------------------------------- manifest agreement

def _expected_fail_codes(expected: str) -> set[str] | None:
    import re

    obs = expected.split("||", 1)[-1] if "||" in expected else ""
    if "observed" not in obs:
        return None
    m = re.search(r"active-manifest failures=([\w.,]+)", obs)
    return set(m.group(1).split(",")) if m else set()


def agreement(reps_by_path) -> tuple[list[dict], dict]:
    man = DATA / "forensics" / "MANIFEST.csv"
    rows, tally = [], Counter()
    code_agree = code_total = 0
    for r in csv.DictReader(open(man)):
        if r["collection"] != "provenance":
            continue
        path = str(DATA / "forensics" / r["relpath"])
        rep = reps_by_path.get(path)
        kind = r["kind"]
        if rep is None or rep.error:
            got, ok = f"load error: {rep.error if rep else 'not scanned'}", kind in ("malformed-metadata",)
        else:
            c, g, ex = rep.get("c2pa"), rep.get("generator-metadata"), rep.get("exif")
            cv, gv = c.verdict, g.verdict
            cawg = c.details.get("cawg_identity")
            rule = {
                "c2pa-valid": cv in ("valid", "valid-untrusted"),
                "c2pa-valid-ai": cv in ("valid", "valid-untrusted") and c.details.get("ai_generated"),
                "c2pa-invalid": cv == "invalid",
                "c2pa-remote": cv == "unresolved",
                "cawg-identity-valid": cv in ("valid", "valid-untrusted") and cawg != "invalid",
                "cawg-identity-invalid": cv == "invalid" or cawg == "invalid",
                "no-c2pa": cv == "absent",
                "a1111": gv == "automatic1111", "a1111-jpeg": gv == "automatic1111", "a1111-stealth": gv == "automatic1111",
                "comfyui": gv == "comfyui", "fooocus": gv == "fooocus", "invokeai": gv == "invokeai", "novelai": gv == "novelai",
                "iptc-dst": ex.details.get("digital_source_type") == "softwareImage",
                "no-metadata": gv == "absent" and cv == "absent",
                "malformed-metadata": all(not e.summary.startswith("analyzer failed") for e in rep.evidence),
            }
            ok = bool(rule.get(kind, False))
            got = f"c2pa={cv}" + (f" ({','.join(c.details.get('failing_codes') or [])})" if cv == "invalid" else "") + \
                  (f" cawg={cawg}" if cawg else "") + f"; generator={gv}" + \
                  (f"; DST={ex.details.get('digital_source_type')}" if ex.details.get("digital_source_type") else "")
            exp_codes = _expected_fail_codes(r["expected"])
            if exp_codes is not None and r["kind"].startswith(("c2pa", "cawg")) and cv not in ("absent", "unresolved"):
                ours = set(c.details.get("failing_codes") or []) | set(c.details.get("cawg_failing_codes") or [])
                if c.details.get("reader_error") and "reader error" in r["expected"]:
                    ours = exp_codes  # both report the reader's refusal (e.g. prerelease content), no codes
                code_total += 1
                code_agree += ours == exp_codes
        tally["ok" if ok else "miss"] += 1
        rows.append({"file": r["relpath"].split("/", 1)[1], "kind (MANIFEST)": kind, "sleuth": got, "agrees": "yes" if ok else "**no**"})
    return rows, {"agree": tally["ok"], "total": tally["ok"] + tally["miss"], "code_agree": code_agree, "code_total": code_total}


# ----------------------------------------------------------------------------- speed

def make_speed_set(n: int) -> list[Path]:
    """~1 MP tiles (1155x866) of the real camera JPEGs, EXIF kept; every fifth C2PA-signed."""
    from PIL import Image

    from sleuth.provenance.signing import make_test_chain, sign_image

    out = WORK / "speed_1mp"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    srcs = []
    for r in csv.DictReader(open(DATA / "aigen" / "MANIFEST.csv")):
        if r["label"] == "real" and int(r["width"]) * int(r["height"]) >= 1155 * 866 and r["format"] == "JPEG":
            srcs.append(DATA / "aigen" / r["relpath"])
    tw, th = 1155, 866
    tiles = []  # round-robin over sources, overlapping grid (stride a third of a tile)
    grids = []
    for s in srcs:
        im = Image.open(s)
        w, h = im.size
        if w < h:
            tw_, th_ = th, tw
        else:
            tw_, th_ = tw, th
        pos = [(x, y) for y in range(0, h - th_ + 1, th_ // 3) for x in range(0, w - tw_ + 1, tw_ // 3)]
        grids.append((s, pos, (tw_, th_)))
    i = 0
    while len(tiles) < n and any(g[1] for g in grids):
        s, pos, size = grids[i % len(grids)]
        if pos:
            tiles.append((s, pos.pop(0), size))
        i += 1
    chain = make_test_chain()
    files = []
    for k, (s, (x, y), (w, h)) in enumerate(tiles):
        im = Image.open(s)
        exif = im.info.get("exif")
        crop = im.convert("RGB").crop((x, y, x + w, y + h))
        buf = io.BytesIO()
        crop.save(buf, "JPEG", quality=90, **({"exif": exif} if exif else {}))
        data = buf.getvalue()
        if k % 5 == 4:
            data = sign_image(data, "JPEG", chain, title=f"tile{k}.jpg")
        p = out / f"tile_{k:03d}_{s.stem}.jpg"
        p.write_bytes(data)
        files.append(p)
    return files


CPU: dict[str, float] = {}


def _wall(cmd: list[str], repeats: int, env: dict | None = None) -> tuple[float, str]:
    """Median wall time; the median CPU time (user+sys of the process tree) goes to CPU[cmd]."""
    import resource

    ts, cpus, err = [], [], ""
    for _ in range(repeats):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        res = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        ts.append(time.perf_counter() - t)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
        err = res.stderr[-300:] if res.returncode not in (0, 1) else ""
    CPU[" ".join(cmd)] = statistics.median(cpus)
    return statistics.median(ts), err


STEADY = r"""
import json, sys, time
def main():
    t0 = time.perf_counter()
    from sleuth.pipeline import scan_many
    ts = [time.perf_counter() - t0 for _ in scan_many(sys.argv[2:], jobs=int(sys.argv[1]), tier="fast")]
    print(json.dumps({"first": ts[0], "steady": (len(ts) - 10) / (ts[-1] - ts[9])}))
if __name__ == "__main__":
    main()
"""

C2PA_ONLY = r"""
import io, json, sys
import c2pa
ctx = c2pa.Context.from_dict({"verify": {"remote_manifest_fetch": False}})
n = 0
for p in sys.argv[1:]:
    with open(p, "rb") as fh:
        data = fh.read()
    try:
        r = c2pa.Reader.try_create("image/jpeg", io.BytesIO(data), context=ctx)
        if r is not None:
            json.loads(r.json()); n += 1
    except Exception:
        pass
print(n)
"""


def speed(files: list[Path], repeats: int) -> tuple[list[dict], dict]:
    n = len(files)
    d = str(files[0].parent)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rows = []
    notes: list[str] = []
    sl, e1 = _wall([str(SLEUTH), "scan", d, "--fast", "--jobs", "2", "--format", "jsonl", "--out", str(WORK / "scan.jsonl")], repeats, env)
    rows.append({"tool": "sleuth scan --fast --jobs 2 (4 analyzers, JSON out)", "wall s": sl, "images/s": n / sl, "sleuth / tool": 1.0})
    sl1, _ = _wall([str(SLEUTH), "scan", d, "--fast", "--jobs", "1", "--format", "jsonl", "--out", str(WORK / "scan1.jsonl")], repeats, env)
    rows.append({"tool": "sleuth scan --fast --jobs 1", "wall s": sl1, "images/s": n / sl1, "sleuth / tool": (n / sl) / (n / sl1)})
    # start-up (interpreter, imports, worker pool) apart from throughput: sleuth.scan_many in a fresh
    # process, time to the first report, and images/s from the 10th report to the last
    script = WORK / "steady.py"
    script.write_text(STEADY)
    for jobs in (2, 1):
        outs = []
        for _ in range(repeats):
            res = subprocess.run([sys.executable, str(script), str(jobs), *map(str, files)], capture_output=True, text=True, env=env)
            try:
                outs.append(json.loads(res.stdout.strip().splitlines()[-1]))
            except (ValueError, IndexError):
                notes.append(f"steady-state run failed: {res.stderr[-200:]}")
        if outs:
            first = statistics.median(o["first"] for o in outs)
            rate = statistics.median(o["steady"] for o in outs)
            rows.append({"tool": f"sleuth.scan_many jobs={jobs}: start-up to 1st report / steady images/s (10th..last)",
                         "wall s": first, "images/s": rate, "sleuth / tool": float("nan")})
    if shutil.which("exiftool"):
        et, _ = _wall(["exiftool", "-json", "-q", d], repeats)
        rows.append({"tool": "exiftool -json DIR (12.57, 1 process)", "wall s": et, "images/s": n / et, "sleuth / tool": (n / sl) / (n / et)})
    else:
        notes.append("exiftool not installed: `apt-get update && apt-get install -y libimage-exiftool-perl`; column skipped.")
    script = WORK / "c2pa_only.py"
    script.write_text(C2PA_ONLY)
    cp, _ = _wall([sys.executable, str(script), *map(str, files)], repeats, env)
    rows.append({"tool": "c2pa-python 0.38.1 alone (Reader + JSON per file, 1 process)", "wall s": cp, "images/s": n / cp,
                 "sleuth / tool": (n / sl) / (n / cp)})
    # the --jobs 2 pool workers are forkserver children that are never waited for by us: their CPU
    # time does not reach RUSAGE_CHILDREN, so that row has none (use the --jobs 1 row)
    cpu_of = {"sleuth scan --fast --jobs 2": None and CPU.get(" ".join([str(SLEUTH), "scan", d, "--fast", "--jobs", "2", "--format", "jsonl", "--out", str(WORK / "scan.jsonl")])),
              "sleuth scan --fast --jobs 1": CPU.get(" ".join([str(SLEUTH), "scan", d, "--fast", "--jobs", "1", "--format", "jsonl", "--out", str(WORK / "scan1.jsonl")])),
              "exiftool": CPU.get(" ".join(["exiftool", "-json", "-q", d])),
              "c2pa-python": CPU.get(" ".join([sys.executable, str(script), *map(str, files)]))}
    for row in rows:
        key = next((k for k in cpu_of if row["tool"].startswith(k)), None)
        cpu = cpu_of.get(key) if key else None
        row["CPU s (all processes)"] = cpu if cpu is not None else float("nan")
        row["images per CPU-s"] = n / cpu if cpu else float("nan")
    return rows, {"errors": e1, "notes": notes}


def per_analyzer_ms(files: list[Path]) -> list[dict]:
    from sleuth import analyzers as an
    from sleuth.imageio import load_image

    specs = {s.name: s for s in an.select(FAST)}
    times: dict[str, list[float]] = defaultdict(list)
    ctx = an.ScanContext()
    for f in files:
        t = time.perf_counter()
        img = load_image(str(f))
        times["load + decode"].append(time.perf_counter() - t)
        for name, spec in specs.items():
            t = time.perf_counter()
            an.run_analyzer(spec, img, ctx)
            times[name].append(time.perf_counter() - t)
    return [{"step": k, "median ms": 1000 * statistics.median(v), "p90 ms": 1000 * sorted(v)[int(0.9 * (len(v) - 1))]}
            for k, v in times.items()]


# ----------------------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="40 speed files, one timing repeat")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"data folder {DATA} not found (set SLEUTH_DATA)")
    cmd = ".venv/bin/python bench/provenance.py" + (" --quick" if args.quick else "")
    group_of = labels()
    files = data_files()
    print(f"census over {len(files)} files ...", flush=True)
    reps, t_census = census(files, args.jobs)
    sig_rows, info = signal_rows(reps, group_of)
    wm = watermark_fp(reps, group_of)
    by_path = {r.path: r for r in reps}
    agr_rows, agr = agreement(by_path)
    print(f"agreement {agr}; watermark {wm}", flush=True)

    n = 40 if args.quick else 100
    speed_files = make_speed_set(n)
    print(f"speed over {len(speed_files)} 1 MP JPEGs ...", flush=True)
    sp_rows, sp_info = speed(speed_files, 1 if args.quick else 3)
    ms_rows = per_analyzer_ms(speed_files)
    sleuth_ips = sp_rows[0]["images/s"]
    steady2 = next((r["images/s"] for r in sp_rows if r["tool"].startswith("sleuth.scan_many jobs=2")), float("nan"))

    md = [f"Command: `{cmd}` (exiftool from `apt-get install -y libimage-exiftool-perl`). Data: every image under "
          f"`../shared/data` ({len(files)} files; {sum(1 for r in reps if r.error)} could not be decoded and got error entries). "
          f"Census took {t_census:.0f} s with `--jobs {args.jobs}`.", "",
          "### Agreement with the forensics MANIFEST (`kind` column, provenance collection)", "",
          f"**{agr['agree']}/{agr['total']} files agree** with the kind the MANIFEST gives. For the C2PA files whose `expected` "
          f"records what c2pa-python 0.38.1 observed, our failing codes equal the observed active-manifest failures on "
          f"**{agr['code_agree']}/{agr['code_total']}**. Rules: c2pa-valid -> `valid`/`valid-untrusted` (no trust list is configured, so "
          "`valid-untrusted` is the correct answer); c2pa-invalid -> `invalid`; c2pa-remote -> `unresolved`; cawg-identity-invalid -> C2PA "
          "`invalid` or `cawg_identity=invalid`; no-c2pa -> `absent`; generator kinds -> that tool; iptc-dst -> DigitalSourceType "
          "softwareImage; malformed-metadata -> no analyzer crash.", "",
          md_table(agr_rows), "",
          "### Signals per data group (files carrying each signal)", "",
          md_table(sig_rows, floatfmt=".0f"),
          f"Generator tools found: {dict(info['gen_tools'])}.", "",
          "### Known watermarks on real photographs (default FPR 1e-6)", "",
          f"Real photographs (aigen real + forensics manipulation sets): {wm['real']} decoded, {wm['checked']} large enough "
          f"(>= 256x256) to check. **Detections: {len(wm['detections'])}** {wm['detections'] or ''}. Smallest p-value "
          f"{wm['min_p']:.2g}; most matching bits {wm['max_sd']}/136 (SD, threshold 96) and {wm['max_xl']}/48 (SDXL, threshold 41). "
          f"On the {wm['synth']} AI-generated images: {dict(wm['synth_det']) or 'no mark found'} (folder, mark).", "",
          f"### Speed of the fast tier on {len(speed_files)} 1 MP JPEGs (camera EXIF kept, 1 in 5 C2PA-signed)", "",
          f"End-to-end wall time including process start, median of {1 if args.quick else 3} runs, same files for every tool. "
          f"**sleuth: {sleuth_ips:.1f} images/s end to end with --jobs 2; {steady2:.1f} images/s once started** "
          f"(goal 20). Machine load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(other engineers' jobs share them; wall timings scale with it, CPU seconds much less: "
          "images per CPU-second of the --jobs 1 run, times 2 cores, is what an idle 2-core machine would reach; "
          "the --jobs 2 pool workers' CPU time cannot be counted from outside, so that cell is empty).", "",
          md_table(sp_rows, floatfmt=".2f"), *[f"Note: {x}" for x in sp_info["notes"]], "",
          "In-process cost per image (one core, same files):", "", md_table(ms_rows, floatfmt=".1f"),
          "exiftool and c2pa-python each do a subset of the work (metadata dump / manifest validation only); "
          "the ratio column is sleuth's images/s divided by the tool's."]
    if sp_info["errors"]:
        md.append(f"sleuth stderr tail: `{sp_info['errors']}`")
    write_section("provenance", "\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
