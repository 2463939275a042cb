"""Hostile-input bench: a generated corpus through sleuth's commands and two peers.

Writes the ``hostile`` section of docs/benchmarks.md: per command, files, crashes, hangs,
files stopped by the time budget, worker deaths, peak RSS and per-file median / p99 time; the
same corpus through ``exiftool -json`` and Pillow's ``Image.open().load()`` as peers.

    .venv/bin/python bench/hostile.py                    # full: issue-size cases + 2,000 mutated files
    .venv/bin/python bench/hostile.py --n-mutated 300    # smaller
    .venv/bin/python bench/hostile.py --scale small --n-mutated 50 --n-full 20   # a minute

Corpus: :func:`sleuth.bench.hostile_corpus.make_corpus` (seeded; in ``bench/_work/hostile``,
git-ignored). ``scan --fast`` sees every file; the full tier, ``detect``, ``forensics`` and
``verify`` see a deterministic subset (every hostile case plus evenly spaced mutated files,
``--n-full`` in all) because they cost seconds per file on this machine.

How each is measured: ``scan`` and ``scan --fast`` through :func:`sleuth.pipeline.scan_many`
(killable workers, default budgets; per-file seconds and the worker's peak RSS come from its
``on_stats``). ``detect``, ``forensics``, ``verify`` and Pillow run in a child process, one
file at a time, that prints a line before and after each file; the parent kills a child whose
file runs over ``--hang-s`` (a hang), notes it and restarts after that file; peak RSS is the
child's ``ru_maxrss``. A crash is an exception that is not sleuth's one-line error (a
traceback in the CLI) or a dead child / worker. exiftool runs once over the folder.
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import resource
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sleuth.bench.report import md_table, write_section  # noqa: E402

WORK = ROOT / "bench" / "_work" / "hostile"
KEY = "hostile-bench-key"


# ------------------------------------------------------------------ child: one command, file by file

def _child(cmd: str, list_file: str) -> None:
    """Run ``cmd`` on each path of ``list_file``: 'start i' / 'done i seconds status' lines on stdout."""
    from sleuth.errors import SleuthError

    paths = Path(list_file).read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    start = int(os.environ.get("HOSTILE_START", "0"))
    fn = _command(cmd)
    for i in range(start, len(paths)):
        print(f"start {i}", flush=True)
        t0 = time.perf_counter()
        try:
            fn(paths[i])
            status = "ok"
        except SleuthError:
            status = "error"
        except Exception as exc:  # noqa: BLE001 - a crash is what we count
            status = "crash:" + type(exc).__name__
            if cmd == "pillow":
                status = "error"  # Pillow raises for bad files by design
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(f"done {i} {time.perf_counter() - t0:.4f} {status} {rss}", flush=True)


def _command(cmd: str):
    if cmd == "pillow":
        from PIL import Image

        def pil(p):
            with Image.open(p) as im:
                im.load()
        return pil
    if cmd == "detect":
        from sleuth.detect.detector import AigenDetector
        from sleuth.imageio import load_image

        det = AigenDetector()
        return lambda p: det.analyse(load_image(p))
    if cmd == "forensics":
        import tempfile

        from sleuth.commands.forensics import forensics_one
        from sleuth.errors import SleuthError

        out = Path(tempfile.mkdtemp(prefix="hostile-maps-"))

        def fo(p):
            row = forensics_one(p, out, {"scaling_sizes": None, "max_pixels": None})
            for f in out.iterdir():
                f.unlink()
            if row.get("error") and "internal error" in row["error"]:
                raise RuntimeError(row["error"])
            if row.get("error"):
                raise SleuthError(row["error"])
        return fo
    if cmd == "verify":
        from sleuth.watermark.api import verify_file
        from sleuth.watermark.keys import parse_key

        keys = [parse_key(KEY)]
        return lambda p: verify_file(p, keys)
    raise SystemExit(f"unknown command {cmd}")


# ------------------------------------------------------------------ parent

def run_child(cmd: str, paths: list[str], hang_s: float) -> dict:
    lst = WORK / f"{cmd}.list"
    lst.write_text("\n".join(paths), encoding="utf-8", errors="surrogateescape")
    times, statuses, hangs, peak, start = [], {}, [], 0, 0
    while start < len(paths):
        env = dict(os.environ, HOSTILE_START=str(start), PYTHONPATH=str(ROOT))
        proc = subprocess.Popen(["nice", "-n", "10", sys.executable, __file__, "--child", cmd, str(lst)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        q: queue.Queue = queue.Queue()
        threading.Thread(target=lambda q=q, proc=proc: [q.put(ln) for ln in proc.stdout] + [q.put(None)], daemon=True).start()
        current, t_start, ended = None, time.monotonic(), False
        while True:
            wait = hang_s + 300 if current is None else hang_s  # the first file also loads models
            try:
                line = q.get(timeout=max(0.1, wait - (time.monotonic() - t_start)))
            except queue.Empty:
                proc.kill()
                hangs.append(paths[current] if current is not None else "(start-up)")
                start = (current if current is not None else start) + 1
                break
            if line is None:
                ended = True
                break
            parts = line.split()
            if parts[0] == "start":
                current, t_start = int(parts[1]), time.monotonic()
            elif parts[0] == "done":
                i, secs, status, rss = int(parts[1]), float(parts[2]), parts[3], int(parts[4])
                times.append(secs)
                statuses[i] = status
                peak = max(peak, rss)
                current = None
        proc.wait()
        if ended:
            if current is not None:  # died inside a file
                statuses[current] = f"crash:exit {proc.returncode}"
                start = current + 1
            else:
                break
    crashes = {paths[i]: s for i, s in statuses.items() if s.startswith("crash")}
    return {"files": len(paths), "crashes": crashes, "hangs": hangs, "over_budget": 0, "worker_deaths": 0,
            "errors": sum(s == "error" for s in statuses.values()), "times": times, "peak_rss": peak}


def run_scan(paths: list[str], tier: str, jobs: int) -> dict:
    from sleuth.pipeline import failures, scan_many

    stats: dict[str, dict] = {}
    over = deaths = crashes = errors = analyzer_failures = 0
    crash_files = {}
    t0 = time.perf_counter()
    for rep in scan_many(paths, jobs=jobs, tier=tier, on_stats=lambda p, s: stats.__setitem__(p, s)):
        e = rep.error or ""
        if "time budget" in e:
            over += 1
            crash_files.setdefault("_stopped", []).append(rep.path)
        elif "worker process died" in e or "memory limit" in e:
            deaths += 1
            crash_files[rep.path] = e
        elif "internal error" in e:
            crashes += 1
            crash_files[rep.path] = e
        elif e:
            errors += 1
        analyzer_failures += bool(failures(rep))
    wall = time.perf_counter() - t0
    times = [s["seconds"] for s in stats.values() if "seconds" in s and not s.get("killed")]
    peak = max((max(s.get("peak_rss") or 0, s.get("rss_at_kill") or 0) for s in stats.values()), default=0)
    stopped = crash_files.pop("_stopped", [])
    return {"files": len(paths), "crashes": crash_files, "hangs": [], "stopped": stopped, "over_budget": over, "worker_deaths": deaths,
            "errors": errors, "analyzer_failures": analyzer_failures, "times": times, "peak_rss": peak, "wall": wall}


def run_exiftool(folder: Path, n: int) -> dict | None:
    if not shutil.which("exiftool"):
        return None
    # a fresh Python parent, so RUSAGE_CHILDREN is exiftool's own peak
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "r = subprocess.run(sys.argv[1:], stdout=open(sys.argv[0] + '.json', 'wb'), stderr=subprocess.DEVNULL); "
             "print(r.returncode, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)")
    out = WORK / "exiftool"
    r0 = subprocess.run([sys.executable, "-c", probe.replace("sys.argv[0]", repr(str(out))), "nice", "-n", "10",
                         "exiftool", "-json", "-q", "-q", "-r", "-ext", "*", str(folder)], capture_output=True, text=True, timeout=3600)
    code, wall, rss = r0.stdout.split()
    r = subprocess.CompletedProcess([], int(code), stdout=(WORK / "exiftool.json").read_bytes())
    wall = float(wall)
    try:
        doc = json.loads(r.stdout.decode("utf-8", "replace") or "[]")
    except ValueError:
        doc = []
    return {"files": n, "crashes": {} if r.returncode in (0, 1) else {"(run)": f"exit {r.returncode}"}, "hangs": [],
            "over_budget": 0, "worker_deaths": 0, "errors": sum(1 for d in doc if d.get("Error")),
            "times": [], "peak_rss": int(rss), "wall": wall,
            "reported": len(doc)}


def _row(name: str, r: dict) -> dict:
    t = sorted(r["times"])
    p99 = t[min(len(t) - 1, int(round(0.99 * (len(t) - 1))))] if t else float("nan")
    return {"command": name, "files": r["files"], "crashes": len(r["crashes"]), "hangs": len(r["hangs"]),
            "stopped by budget": r.get("over_budget", 0), "worker deaths": r.get("worker_deaths", 0),
            "one-line errors": r.get("errors", 0), "analyzer failures": r.get("analyzer_failures", "-"),
            "peak RSS MiB": str(round(r["peak_rss"] / 2**20)),
            "median ms": f"{statistics.median(t) * 1000:.1f}" if t else "-", "p99 ms": f"{p99 * 1000:.1f}" if t else "-",
            "wall s": f"{r['wall'] if 'wall' in r else sum(t):.1f}"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", choices=["small", "full"], default="full")
    ap.add_argument("--n-mutated", type=int, default=2000)
    ap.add_argument("--n-full", type=int, default=150, help="files for the full tier, detect, forensics, verify")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--hang-s", type=float, default=120.0, help="a child file over this many seconds is a hang")
    ap.add_argument("--commands", default="scan-fast,scan,detect,forensics,verify,exiftool,pillow")
    ap.add_argument("--no-write", action="store_true", help="print the table, do not touch docs/benchmarks.md")
    ap.add_argument("--merge", action="store_true",
                    help="rerun only --commands and keep the other rows of the last run (same corpus: seeded)")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        _child(*a.child)
        return
    from sleuth.bench.hostile_corpus import make_corpus

    saved = WORK.parent / "hostile-results.json"
    old = json.loads(saved.read_text()) if a.merge and saved.exists() else {"rows": [], "details": {}}
    if WORK.exists():
        shutil.rmtree(WORK)
    t0 = time.perf_counter()
    cases = make_corpus(WORK / "corpus", a.scale, n_mutated=a.n_mutated)
    made = time.perf_counter() - t0
    paths = [c.path for c in cases]
    special = [c.path for c in cases if c.case != "mutated"]
    mutated = [c.path for c in cases if c.case == "mutated"]
    k = max(1, len(mutated) // max(1, a.n_full - len(special)))
    subset = special + mutated[::k][: max(0, a.n_full - len(special))]
    cmds = a.commands.split(",")
    rows, details = [], {}
    for cmd in cmds:
        t1 = time.perf_counter()
        if cmd == "scan-fast":
            r = run_scan(paths, "fast", a.jobs)
        elif cmd == "scan":
            r = run_scan(subset, "full", a.jobs)
        elif cmd == "exiftool":
            r = run_exiftool(WORK / "corpus", len(paths))
            if r is None:
                print("exiftool not installed: skipped", file=sys.stderr)
                continue
        elif cmd == "pillow":
            r = run_child("pillow", paths, a.hang_s)
        else:
            r = run_child(cmd, subset, a.hang_s)
        name = {"scan-fast": "sleuth scan --fast", "scan": "sleuth scan (full tier)", "exiftool": "exiftool -json (peer)",
                "pillow": "Pillow open+load (peer)"}.get(cmd, f"sleuth {cmd}")
        rows.append(_row(name, r))
        details[name] = {"crashes": r["crashes"], "hangs": r["hangs"], "stopped": r.get("stopped", [])}
        print(f"{cmd}: {rows[-1]} ({time.perf_counter() - t1:.0f} s)", file=sys.stderr, flush=True)
    if a.merge:
        names = {r["command"] for r in rows}
        rows = [r for r in old["rows"] if r["command"] not in names] + rows
        details = {**{k: v for k, v in old["details"].items() if k not in names}, **details}
    cmdline = "bench/hostile.py " + " ".join(sys.argv[1:])
    if a.merge and old.get("command"):
        cmdline = f"{old['command']}`, then `{cmdline}"
    saved.write_text(json.dumps({"rows": rows, "details": details,
                                 "command": cmdline if not a.merge else old.get("command", cmdline)}, indent=1))
    by_case: dict[str, int] = {}
    for c in cases:
        by_case[c.case] = by_case.get(c.case, 0) + 1
    md = (f"Corpus: {len(paths)} generated files ({', '.join(f'{v} {k}' for k, v in by_case.items())}), scale "
          f"`{a.scale}`, made in {made:.0f} s by `sleuth.bench.hostile_corpus.make_corpus` (seed 0). "
          f"`scan --fast`, Pillow and exiftool see every file; the full tier, detect, forensics and verify see "
          f"{len(subset)} (every hostile case + evenly spaced mutated files). Command: `{cmdline}`, "
          f"--jobs {a.jobs} for scan, hang threshold {a.hang_s:g} s per file for the child-process commands. "
          "Machine shared with other jobs (2 cores): times are noisy, ratios and counts are what to read.\n\n"
          + md_table(rows) + "\n"
          "Crash: an exception that is not sleuth's one-line error, or a dead process/worker. Hang: a file the "
          "command did not finish within the threshold (the child is killed). Stopped by budget: a file sleuth's "
          "own per-file time budget stopped (one-line error, batch goes on). Peak RSS: scan = the largest "
          "worker's lifetime maximum (a worker stopped by the budget: its last sample); child commands = the child's; exiftool = the largest child process. "
          "exiftool has no per-file times (one batch run). Limits in force: docs/limits.md.\n")
    bad = {k: v for k, v in details.items() if v["crashes"] or v["hangs"]}
    if bad:
        md += "\nCrash / hang files:\n\n" + "".join(
            f"- {k}: {', '.join(f'{Path(p).name} ({s})' for p, s in list(v['crashes'].items())[:10])}"
            f"{' hangs: ' + ', '.join(Path(h).name for h in v['hangs'][:10]) if v['hangs'] else ''}\n"
            for k, v in bad.items())
    stopped = {k: v["stopped"] for k, v in details.items() if v.get("stopped")}
    if stopped:
        md += "\nStopped by the time budget:\n\n" + "".join(
            f"- {k}: {', '.join(Path(p).name for p in v[:10])}\n" for k, v in stopped.items())
    print(md)
    if not a.no_write:
        write_section("hostile", md)


if __name__ == "__main__":
    main()
