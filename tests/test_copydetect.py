"""Copy detection: index add/search/remove, dedup, replication, kill -9 durability, writer lock,
bad input, format version, the ``copy`` scan analyzer. Fixtures are generated here."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from sleuth.cli import app
from sleuth.copydetect import verify as V
from sleuth.copydetect.index import FORMAT_VERSION, MANIFEST, CopyIndex
from sleuth.errors import IndexError_

from .conftest import encode, natural_image

runner = CliRunner()


def _write(path: Path, arr: np.ndarray, fmt: str = "JPEG", **kw) -> Path:
    path.write_bytes(encode(arr, fmt, **kw))
    return path


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    d = tmp_path_factory.mktemp("refs")
    arrs = [natural_image(300, 400, seed=100 + i) for i in range(5)]
    paths = [_write(d / f"ref{i}.jpg", a, quality=92) for i, a in enumerate(arrs)]
    return d, paths, arrs


@pytest.fixture(scope="module")
def built(refs, tmp_path_factory):
    d, paths, arrs = refs
    root = tmp_path_factory.mktemp("idx") / "index"
    idx = CopyIndex.create_or_open(root)
    res = idx.add([str(p) for p in paths])
    assert len(res.added) == 5 and not res.skipped
    # background (distractor) images from the same generator: score normalisation needs them
    bg = [_write(d / f"bg{i}.jpg", natural_image(300, 400, seed=200 + i)) for i in range(8)]
    assert len(idx.add([str(p) for p in bg], role="background").added) == 8
    idx.close()
    return root


def _queries(arrs, tmp: Path) -> dict[str, Path]:
    a = arrs[1]
    other = natural_image(300, 400, seed=999)
    overlay = other.copy()
    overlay[40:265, 60:360] = cv2.resize(arrs[3], (300, 225))
    return {
        "crop": _write(tmp / "crop.jpg", a[30:250, 50:330].copy(), quality=60),
        "flip": _write(tmp / "flip.png", a[:, ::-1].copy(), "PNG"),
        "overlay": _write(tmp / "overlay.jpg", overlay, quality=80),
        "unrelated": _write(tmp / "unrelated.jpg", natural_image(300, 400, seed=555)),
    }


def test_add_search_regions_and_json(built, refs, tmp_path):
    _, paths, arrs = refs
    q = _queries(arrs, tmp_path)
    r = runner.invoke(app, ["search", str(built), *[str(p) for p in q.values()], "--top-k", "2", "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    from tests.test_contracts import _validate

    _validate("search", doc)
    assert [d["query"] for d in doc] == [str(p) for p in q.values()]
    by = {Path(d["query"]).stem: d for d in doc}
    for name, ref in (("crop", 1), ("flip", 1), ("overlay", 3)):
        best = by[name]["matches"][0]
        assert best["path"] == str(paths[ref]), name
        assert best["is_copy"], (name, best)
        assert {"id", "path", "score", "is_copy", "regions"} <= set(best)
        assert best["score"] > by["unrelated"]["matches"][0]["score"]
    assert not any(m["is_copy"] for m in by["unrelated"]["matches"])
    # asymmetric coverage: the crop is all reference; the overlay holds the whole reference
    crop = by["crop"]["matches"][0]["regions"]
    assert crop["query_in_reference"] > 0.9 and 0.3 < crop["reference_in_query"] < 0.75
    assert crop["relation"] == "query-is-crop-of-reference"
    ov = by["overlay"]["matches"][0]["regions"]
    assert ov["reference_in_query"] > 0.85 and ov["query_in_reference"] < 0.75
    x0, y0, x1, y1 = ov["query"]
    assert abs(x0 - 60) < 20 and abs(y0 - 40) < 20 and abs(x1 - 360) < 20 and abs(y1 - 265) < 20


def test_verify_is_asymmetric():
    a = natural_image(300, 400, seed=7)
    crop = a[50:250, 80:330].copy()
    whole, part = V.extract(a), V.extract(crop)
    fwd = V.verify((part, V.extract(crop, mirror=True)), whole)  # query = crop, reference = whole
    rev = V.verify((whole, V.extract(a, mirror=True)), part)  # query = whole, reference = crop
    assert fwd.verified and rev.verified
    assert fwd.relation == "query-is-crop-of-reference"
    assert rev.relation == "reference-contained-in-query"
    assert fwd.query_in_reference > 0.9 and rev.query_in_reference < 0.6


def test_remove_and_stats(refs, tmp_path):
    _, paths, _ = refs
    root = tmp_path / "idx"
    r = runner.invoke(app, ["index", "add", str(root), *[str(p) for p in paths[:3]], "--format", "json"])
    assert r.exit_code == 0, r.output
    ids = [a["id"] for a in json.loads(r.stdout)["added"]]
    # adding the same file again is recognised by sha256
    r = runner.invoke(app, ["index", "add", str(root), str(paths[0]), "--format", "json"])
    assert json.loads(r.stdout)["duplicates"][0]["existing_id"] == ids[0]
    r = runner.invoke(app, ["index", "remove", str(root), str(ids[0]), "12345"])
    assert r.exit_code == 1 and "12345" in r.stderr
    st = json.loads(runner.invoke(app, ["index", "stats", str(root), "--format", "json"]).stdout)
    assert st["references"] == 2 and st["format_version"] == FORMAT_VERSION
    assert st["structures"] == {"sscd": "flat-ip", "pdq": "binary-flat"}
    r = runner.invoke(app, ["search", str(root), str(paths[0]), "--format", "json"])
    assert ids[0] not in [m["id"] for m in json.loads(r.stdout)[0]["matches"]]


def test_broken_files_in_add_are_skipped_and_listed(refs, tmp_path):
    _, paths, _ = refs
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"definitely not a JPEG")
    trunc = tmp_path / "trunc.jpg"
    trunc.write_bytes(paths[0].read_bytes()[:300])
    root = tmp_path / "idx"
    r = runner.invoke(app, ["index", "add", str(root), str(paths[1]), str(bad), str(trunc), str(paths[2]), "--format", "json"])
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert [a["path"] for a in doc["added"]] == [str(paths[1]), str(paths[2])]
    assert {s["path"] for s in doc["skipped"]} == {str(bad), str(trunc)}
    assert all(len(line.split("\n")) == 1 for line in r.stderr.strip().split("\n"))
    assert str(bad) in r.stderr


def test_bad_index_and_query_errors(refs, tmp_path):
    _, paths, _ = refs
    # missing index
    r = runner.invoke(app, ["search", str(tmp_path / "nope"), str(paths[0])])
    assert r.exit_code == 1 and "no such index" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    # foreign directory
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "data.bin").write_bytes(b"x")
    r = runner.invoke(app, ["index", "add", str(foreign), str(paths[0])])
    assert r.exit_code == 1 and "not a sleuth index" in r.stderr
    assert not (foreign / MANIFEST).exists()
    # newer format version
    root = tmp_path / "idx"
    CopyIndex.create_or_open(root).add([str(paths[0])])
    m = json.loads((root / MANIFEST).read_text())
    m["version"] = FORMAT_VERSION + 1
    (root / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(IndexError_, match="newer than this sleuth"):
        CopyIndex.open(root)
    r = runner.invoke(app, ["index", "stats", str(root)])
    assert r.exit_code == 1 and "newer" in r.stderr
    m["version"] = FORMAT_VERSION
    m["format"] = "something-else"
    (root / MANIFEST).write_text(json.dumps(m))
    with pytest.raises(IndexError_, match="foreign index"):
        CopyIndex.open(root)


def test_empty_reference_set_and_non_image_query(refs, tmp_path):
    _, paths, _ = refs
    root = tmp_path / "idx"
    r = runner.invoke(app, ["index", "add", str(root), "--background", str(paths[4])])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["search", str(root), str(paths[0])])
    assert r.exit_code == 1 and "no reference images" in r.stderr
    runner.invoke(app, ["index", "add", str(root), str(paths[0])])
    txt = tmp_path / "notes.jpg"
    txt.write_text("hello")
    r = runner.invoke(app, ["search", str(root), str(txt), str(paths[0]), "--format", "json"])
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc[0]["error"] and str(txt) in doc[0]["error"] and doc[0]["matches"] == []
    assert doc[1]["error"] is None and doc[1]["matches"][0]["is_copy"]


def test_writer_lock(refs, tmp_path):
    from filelock import FileLock

    _, paths, _ = refs
    root = tmp_path / "idx"
    idx = CopyIndex.create_or_open(root)
    with FileLock(str(root / ".write.lock")):
        with pytest.raises(IndexError_, match="locked by another writer"):
            idx.add([str(paths[0])], lock_timeout=0.2)
    assert idx.count() == 0
    assert len(idx.add([str(paths[0])], lock_timeout=0.2).added) == 1


_ADDER = r"""
import sys
from sleuth.copydetect.index import CopyIndex
idx = CopyIndex.create_or_open(sys.argv[1])
def on_commit(n):
    print(n, flush=True)
idx.add(sys.argv[2:], batch=1, on_commit=on_commit)
print("done", flush=True)
"""


def test_kill9_mid_add_keeps_committed(tmp_path):
    src = tmp_path / "many"
    src.mkdir()
    files = [str(_write(src / f"{i:02d}.jpg", natural_image(96, 128, seed=300 + i))) for i in range(80)]
    root = tmp_path / "idx"
    env = dict(os.environ, OMP_NUM_THREADS="1", SLEUTH_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, "-c", _ADDER, str(root), *files], stdout=subprocess.PIPE, text=True, env=env)
    committed = 0
    t0 = time.time()
    while time.time() - t0 < 120:
        line = proc.stdout.readline()
        if not line:
            break
        if line.strip().isdigit():
            committed = int(line)
            if committed >= 3:
                proc.send_signal(signal.SIGKILL)
                break
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the adder finished before it could be killed"
    assert 3 <= committed < 80
    idx = CopyIndex.open(root)
    n = idx.count()
    assert committed <= n < 80
    have = {i["path"] for i in idx.info(range(1, n + 10)).values()}
    assert set(files[:committed]) <= have
    # the index still searches (its FAISS cache is rebuilt for the current generation) and grows
    from sleuth.copydetect.api import Matcher

    best = Matcher(idx).match(files[0], top_k=1)[0]
    assert best.path == files[0] and best.is_copy
    res = idx.add(files[n:n + 2])
    assert idx.count() == n + 2 and len(res.added) == 2


def test_dedup_clusters_keep_largest(tmp_path):
    a = natural_image(300, 400, seed=21)
    b = natural_image(300, 400, seed=22)
    big = _write(tmp_path / "a_big.png", a, "PNG")
    small = _write(tmp_path / "a_small.jpg", cv2.resize(a, (200, 150), interpolation=cv2.INTER_AREA), quality=70)
    edited = _write(tmp_path / "a_edit.jpg", np.clip(a.astype(int) + 25, 0, 255).astype(np.uint8)[20:280, 10:380].copy(), quality=80)
    _write(tmp_path / "b.jpg", b)
    for i in range(10):  # unrelated images: the set's own similarity ranks are its background
        _write(tmp_path / f"u{i}.jpg", natural_image(240, 320, seed=400 + i))
    (tmp_path / "junk.jpg").write_bytes(b"junk")
    r = runner.invoke(app, ["dedup", str(tmp_path), "--format", "json"])
    assert r.exit_code == 1 and "junk.jpg" in r.stderr  # the broken file is reported, the rest clustered
    clusters = json.loads(r.stdout)
    assert len(clusters) == 1
    assert clusters[0][0] == str(big)
    assert set(clusters[0]) == {str(big), str(small), str(edited)}


def test_replication_ratio(built, refs, tmp_path):
    _, paths, arrs = refs
    gen = tmp_path / "gen"
    gen.mkdir()
    _write(gen / "g0.jpg", arrs[2][20:280, 30:370].copy(), quality=75)  # a replicated training image
    _write(gen / "g1.jpg", natural_image(300, 400, seed=777))
    _write(gen / "g2.jpg", natural_image(300, 400, seed=778))
    _write(gen / "g3.jpg", natural_image(300, 400, seed=779))
    r = runner.invoke(app, ["replication", str(gen), "--index", str(built), "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["n_images"] == 4 and doc["n_copies"] == 1 and doc["replication_ratio"] == pytest.approx(0.25)
    row = next(x for x in doc["images"] if x["path"].endswith("g0.jpg"))
    assert row["is_copy"] and row["reference_path"] == str(paths[2])


def test_copy_analyzer_in_scan(built, refs, tmp_path):
    import sleuth

    _, paths, arrs = refs
    q = _write(tmp_path / "q.jpg", arrs[0][10:290, 20:380].copy(), quality=70)
    rep = sleuth.scan(str(q), analyzers=["copy"], options={"index": str(built)})
    ev = rep.get("copy")
    assert ev is not None and ev.verdict == "copy" and ev.details["matches"][0]["path"] == str(paths[0])
    assert "matched_region" in ev.maps
    rep = sleuth.scan(str(q), analyzers=["copy"], options={})
    assert rep.get("copy") is None
    # the Python API gives the same answer
    from sleuth.copydetect import match

    ms = match(str(q), str(built), top_k=2)
    assert ms[0].path == str(paths[0]) and ms[0].is_copy and not ms[1].is_copy
    assert ms[0].to_dict()["regions"]["query_in_reference"] > 0.9


def test_ivfpq_and_binary_ivf_structures_find_copies():
    from sleuth.copydetect.index import build_faiss, choose_structure

    assert choose_structure("float", 1000) == "flat-ip" and choose_structure("float", 50_000_000) == "ivf-pq"
    assert choose_structure("binary", 1000) == "binary-flat" and choose_structure("binary", 50_000_000) == "binary-ivf"
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 512)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    ids = np.arange(100, 3100, dtype=np.int64)
    idx = build_faiss("float", 512, X, ids, "ivf-pq")
    q = X[:20] + 0.03 * rng.standard_normal((20, 512)).astype(np.float32)
    _, found = idx.search(q, 5)
    assert np.mean([ids[j] in found[j] for j in range(20)]) >= 0.9
    C = rng.integers(0, 256, (3000, 32), dtype=np.uint8)
    bidx = build_faiss("binary", 256, C, ids, "binary-ivf")
    bidx.nprobe = bidx.nlist  # exhaustive: the ids must come back exactly
    _, found = bidx.search(C[:10], 1)
    assert list(found[:, 0]) == list(ids[:10])
