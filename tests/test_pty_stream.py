"""``sleuth scan --format jsonl > file`` in a terminal: every line reaches the file and parses.

The progress bar is on (stderr is a pseudo-terminal), so this fails if the bar ever captures
stdout again (Rich's default ``redirect_stdout=True``).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from .conftest import encode, natural_image

pty = pytest.importorskip("pty")


def test_jsonl_streams_to_a_file_under_a_pty(tmp_path):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i in range(4):
        (imgs / f"{i}.png").write_bytes(encode(natural_image(64, 80, i), "PNG"))
    out = tmp_path / "r.jsonl"
    master, slave = pty.openpty()
    seen = bytearray()

    def drain():  # keep the terminal side read so the child never blocks on a full pty buffer
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                return
            if not chunk:
                return
            seen.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    env = {**os.environ, "TERM": "xterm-256color", "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
           "COLUMNS": "100"}
    env.pop("NO_COLOR", None)
    with open(out, "wb") as fh:
        proc = subprocess.run([sys.executable, "-m", "sleuth", "scan", str(imgs), "--format", "jsonl", "-a", "exif,c2pa"],
                              stdin=slave, stdout=fh, stderr=slave, env=env, timeout=120)
    os.close(slave)
    reader.join(timeout=5)
    os.close(master)
    assert proc.returncode == 0, bytes(seen).decode(errors="replace")
    lines = out.read_text().splitlines()
    assert len(lines) == 4
    reps = [json.loads(line) for line in lines]
    assert sorted(Path(r["path"]).name for r in reps) == ["0.png", "1.png", "2.png", "3.png"]
    assert all(r["audit"]["sleuth_version"] for r in reps)
    assert b'"path"' not in bytes(seen)  # nothing of the JSON went to the terminal
