"""Benchmark: `sleuth serve` under concurrent load on loopback, against the v0.1 service as the peer.

Run: ``.venv/bin/python bench/service.py`` (the issue's size: 50 clients for 60 s per server);
``--clients N --duration S`` for a smaller run (docs/benchmarks.md says which size was run).

Design
------
* Both servers run on 127.0.0.1 as subprocesses, in the same run, one after the other, under the
  same client load. The v1 server is ``sleuth serve`` (API key, default limits, ``--workers``
  scan processes, bounded queue). The peer is the v0.1 service exactly as released: its code is
  taken from git (``V01_COMMIT``) into a temporary folder and served by uvicorn with its
  ``POST /api/scan`` (no key, no limits: a thread per request).
* Load: an asyncio httpx client per virtual user, each sending requests back to back for
  ``--duration`` seconds; each request draws (seeded) one of: fast tier + small JPEG, full tier
  + small JPEG, fast tier + 12 MP JPEG, full tier + 12 MP JPEG, with weights ``--mix``. A 503
  answer is a deliberate refusal (queue full): the client waits its Retry-After (capped at
  ``--retry-cap`` s, default 10) and goes on, as a well-behaved client does. Every other 5xx and every transport error is counted as a failure.
* Before the load, one client sends ``--idle-n`` requests of each kind in turn to the idle
  server: the service time that the queueing under load adds to.
* Reported: requests, answers by class, 5xx other than 503, throughput of completed scans,
  p50/p95 latency of completed scans per request kind, peak RSS of the server process tree
  (server + workers, sampled every 0.25 s with psutil).
* Safety: a server whose process tree passes ``--rss-cap-gb`` is stopped and the row says so
  (the v0.1 peer has no bound of its own and shares this machine with other jobs).
"""
from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import psutil
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sleuth.bench.report import md_table, write_section  # noqa: E402
from sleuth.examples import photo_like  # noqa: E402

#: the released v0.1 service (last commit before the v1 service)
V01_COMMIT = "2268a95"
KINDS = ["fast-small", "full-small", "fast-12mp", "full-12mp"]


def make_images(seed: int = 0) -> dict[str, bytes]:
    """A small (320x240) and a 12 MP (4000x3000) photo-like JPEG."""
    import cv2

    small = photo_like(240, 320, seed)
    base = photo_like(750, 1000, seed + 1)
    big = cv2.resize(base, (4000, 3000), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(seed)
    big = np.clip(big.astype(np.int16) + rng.integers(-6, 7, big.shape, dtype=np.int16), 0, 255).astype(np.uint8)
    out = {}
    for name, arr in (("small", small), ("12mp", big)):
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "JPEG", quality=90)
        out[name] = buf.getvalue()
    return out


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_v1(tmp: Path, port: int, workers: int) -> tuple[subprocess.Popen, dict[str, str], str]:
    from sleuth.service.store import Store

    data = tmp / "v1-data"
    _, key = Store(data).create_key("bench")
    cmd = [sys.executable, "-m", "sleuth", "serve", "--port", str(port), "--data", str(data),
           "--workers", str(workers), "--rate", "0"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, {"Authorization": f"Bearer {key}"}, "/v1/scan"


def start_v01(tmp: Path, port: int) -> tuple[subprocess.Popen, dict[str, str], str]:
    src = tmp / "v01"
    src.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", V01_COMMIT, "sleuth"], check=True,
                             capture_output=True).stdout
    tarfile.open(fileobj=io.BytesIO(archive)).extractall(src, filter="data")
    code = ("import uvicorn; from sleuth.service import create_app; "
            f"uvicorn.run(create_app({{}}), host='127.0.0.1', port={port}, log_level='warning')")
    env = {**os.environ, "PYTHONPATH": str(src)}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=src, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    return proc, {}, "/api/scan"


def wait_healthy(base: str, timeout: float = 120) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{base} did not become healthy")


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


args_retry_cap = 10.0


async def client(base, path, headers, images, weights, until, rng, out):
    async with httpx.AsyncClient(timeout=600) as c:
        while time.monotonic() < until:
            kind = rng.choices(KINDS, weights)[0]
            tier, size = kind.split("-")
            url = f"{base}{path}" + ("?fast=true" if tier == "fast" else "")
            t0 = time.monotonic()
            try:
                r = await c.post(url, headers=headers, files={"files": (f"{size}.jpg", images[size], "image/jpeg")})
                out.append((kind, r.status_code, time.monotonic() - t0))
                if r.status_code == 503:
                    await asyncio.sleep(min(args_retry_cap, float(r.headers.get("retry-after", "1"))))
            except httpx.HTTPError as exc:
                out.append((kind, f"error:{type(exc).__name__}", time.monotonic() - t0))
                await asyncio.sleep(0.5)


async def load(base, path, headers, images, args, proc) -> tuple[list, int, bool]:
    rng = random.Random(args.seed)
    out: list = []
    until = time.monotonic() + args.duration
    ps = psutil.Process(proc.pid)
    peak, capped = 0, False
    tasks = [asyncio.ensure_future(client(base, path, headers, images, args.mix, until,
                                          random.Random(rng.random()), out)) for _ in range(args.clients)]
    while not all(t.done() for t in tasks):
        if time.monotonic() > until + args.grace:
            break  # requests still running after the grace period are counted as unfinished
        peak = max(peak, tree_rss(ps))
        if peak > args.rss_cap_gb * 2**30:
            capped = True
            for p in ps.children(recursive=True):
                p.kill()
            proc.kill()
            break
        await asyncio.sleep(0.25)
    unfinished = sum(1 for t in tasks if not t.done())
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    out.extend([("?", "unfinished", float("nan"))] * unfinished)
    return out, peak, capped


def summarise(name: str, out: list, peak: int, capped: bool, duration: float) -> tuple[dict, list[dict]]:
    codes = [s for _, s, _ in out]
    ok = [(k, t) for k, s, t in out if s == 200]
    five = [s for s in codes if isinstance(s, int) and s >= 500 and s != 503]
    errors = [s for s in codes if isinstance(s, str) and s != "unfinished"]
    row = {"server": name, "requests": len(out), "200": len(ok), "503 (deliberate)": codes.count(503),
           "other 4xx": sum(1 for s in codes if isinstance(s, int) and 400 <= s < 500),
           "5xx except 503": len(five), "transport errors": len(errors),
           "unfinished at end": codes.count("unfinished"),
           "scans/s": len(ok) / duration,
           "p50 s": statistics.median([t for _, t in ok]) if ok else float("nan"),
           "p95 s": float(np.percentile([t for _, t in ok], 95)) if ok else float("nan"),
           "peak RSS MB": peak / 2**20, "note": "stopped at the RSS cap" if capped else ""}
    kinds = []
    for k in KINDS:
        ts = [t for kk, t in ok if kk == k]
        kinds.append({"server": name, "kind": k, "completed": len(ts),
                      "p50 s": statistics.median(ts) if ts else float("nan"),
                      "p95 s": float(np.percentile(ts, 95)) if ts else float("nan")})
    return row, kinds


def idle_probe(name, base, path, headers, images, n: int) -> list[dict]:
    """Latency of each request kind with one client and an idle server (``n`` sequential requests)."""
    rows = []
    for kind in KINDS:
        tier, size = kind.split("-")
        ts, codes = [], []
        for _ in range(n):
            t0 = time.monotonic()
            r = httpx.post(f"{base}{path}" + ("?fast=true" if tier == "fast" else ""), headers=headers, timeout=600,
                           files={"files": (f"{size}.jpg", images[size], "image/jpeg")})
            ts.append(time.monotonic() - t0)
            codes.append(r.status_code)
        rows.append({"server": name, "kind": kind, "statuses": ",".join(map(str, codes)),
                     "median s": statistics.median(ts)})
    return rows


def run_one(name, starter, images, args, tmp) -> tuple[dict, list[dict], list[dict]]:
    port = free_port()
    proc, headers, path = starter(tmp, port)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base)
        idle = idle_probe(name, base, path, headers, images, args.idle_n) if args.idle_n else []
        out, peak, capped = asyncio.run(load(base, path, headers, images, args, proc))
    finally:
        for p in psutil.Process(proc.pid).children(recursive=True) if proc.poll() is None else []:
            p.kill()
        proc.kill()
        proc.wait(30)
    return (*summarise(name, out, peak, capped, args.duration), idle)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--mix", type=float, nargs=4, default=[0.5, 0.25, 0.15, 0.10], metavar=("FS", "FULLS", "F12", "FULL12"))
    ap.add_argument("--rss-cap-gb", type=float, default=6.0)
    ap.add_argument("--grace", type=float, default=30.0, help="Seconds after the end to let requests finish.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--idle-n", type=int, default=2, help="Sequential requests per kind before the load (0: none).")
    ap.add_argument("--retry-cap", type=float, default=10.0, help="Longest wait after a 503 (its Retry-After, capped).")
    ap.add_argument("--no-write", action="store_true", help="Print, do not write docs/benchmarks.md.")
    args = ap.parse_args()
    global args_retry_cap
    args_retry_cap = args.retry_cap
    images = make_images(args.seed)
    rows, kinds, idles = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name, starter in (("sleuth serve v1", lambda t, p: start_v1(t, p, args.workers)),
                              ("v0.1 /api/scan (peer)", start_v01)):
            row, k, idle = run_one(name, starter, images, args, Path(tmp))
            rows.append(row)
            kinds += k
            idles += idle
            print(md_table([row]), flush=True)
    md = (f"Command: `.venv/bin/python bench/service.py --clients {args.clients} --duration {args.duration:g} "
          f"--workers {args.workers} --grace {args.grace:g} --retry-cap {args.retry_cap:g}` (issue size: 50 clients, 60 s). Loopback, both servers in the same run, "
          f"one after the other; request mix fast-small/full-small/fast-12mp/full-12mp = "
          f"{'/'.join(f'{w:g}' for w in args.mix)}; small = 320x240 JPEG, 12 MP = 4000x3000 JPEG. "
          "v1: default limits (queue 8), rate limit off for the bench key. A 503 is a deliberate "
          "refusal with Retry-After; latencies are of completed scans only; 'unfinished' = still "
          f"running {args.grace:g} s after the end. The machine (2 cores) was shared with other jobs.\n\n"
          + md_table(rows, floatfmt=".2f") + "\nLatency by request kind under the load:\n\n" + md_table(kinds, floatfmt=".2f")
          + (f"\nThe same kinds with one client on the idle server before the load ({args.idle_n} sequential "
             "requests each, median; the first request of a server also loads its models):\n\n"
             + md_table(idles, floatfmt=".2f") if idles else ""))
    print(md)
    if not args.no_write:
        print("wrote", write_section("service", md))


if __name__ == "__main__":
    main()
