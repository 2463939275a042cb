"""Write a benchmark's section into docs/benchmarks.md without touching the others.

Each bench script calls ``write_section("copydetect", markdown)``; the text between
``<!-- BEGIN copydetect -->`` and ``<!-- END copydetect -->`` is replaced (appended the first
time) under a file lock, and the file is written atomically.
"""
from __future__ import annotations

import platform
import re
import subprocess
import sys
import time
from pathlib import Path

from filelock import FileLock

from ..util import atomic_write_text

DOCS = Path(__file__).resolve().parents[2] / "docs"
HEADER = "# sleuth benchmarks\n\nEach section is written by its script under `bench/`; the command is given with each table. Numbers are medians where timings are given; this machine is noisy.\n"


def machine_line() -> str:
    import os

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}"


def git_rev() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=DOCS.parent).stdout.strip()
    except Exception:
        return "?"


def write_section(name: str, markdown: str, path: Path | None = None) -> Path:
    path = path or DOCS / "benchmarks.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = f"_Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine_line()}, commit {git_rev()}._\n\n"
    block = f"<!-- BEGIN {name} -->\n{stamp}{markdown.strip()}\n<!-- END {name} -->"
    with FileLock(str(path) + ".lock"):
        text = path.read_text() if path.exists() else HEADER
        pat = re.compile(rf"<!-- BEGIN {re.escape(name)} -->.*?<!-- END {re.escape(name)} -->", re.S)
        text = pat.sub(lambda _: block, text) if pat.search(text) else text.rstrip() + "\n\n" + block + "\n"
        atomic_write_text(path, text)
    return path


def md_table(rows: list[dict], columns: list[str] | None = None, floatfmt: str = ".3f") -> str:
    if not rows:
        return "(no rows)\n"
    cols = columns or list(rows[0])

    def fmt(v):
        if isinstance(v, float):
            return "nan" if v != v else format(v, floatfmt)
        return str(v)

    out = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    out += ["| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(out) + "\n"
