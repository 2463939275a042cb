"""The Ray engine against the local engine on a loopback Ray cluster started here (no external
head needed): identical scan reports and index contents, resume after a killed driver, bad
manifest entries reported per item, shard folders of another job refused."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import encode, natural_image

pytest.importorskip("ray")
pytest.importorskip("pyarrow")

ROOT = Path(__file__).resolve().parents[1]
N_SCAN = 200


@pytest.fixture(scope="module")
def cluster():
    """A 2-CPU Ray on 127.0.0.1 owned by this test process; CLI subprocesses join it by address."""
    from sleuth.engine.ray_engine import ray_session

    with ray_session(num_cpus=2, object_store_mb=200) as ray:
        addr = ray.get_runtime_context().gcs_address
        assert addr.startswith("127.0.0.1:"), addr  # loopback only
        yield addr


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("imgs")
    for i in range(N_SCAN):
        fmt = "PNG" if i % 7 == 0 else "JPEG"
        (d / f"im{i:04d}.{'png' if fmt == 'PNG' else 'jpg'}").write_bytes(encode(natural_image(48, 64, seed=i), fmt))
    (d / "zz-broken.jpg").write_bytes(b"\xff\xd8 truncated")
    (d / "zz-empty.png").write_bytes(b"")
    return d


def _cli(*args: str, check_rc=None, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SLEUTH_OFFLINE": "1"}
    p = subprocess.run([sys.executable, "-m", "sleuth", *args], capture_output=True, text=True, env=env, timeout=300, **kw)
    if check_rc is not None:
        assert p.returncode == check_rc, p.stderr[-2000:]
    return p


def _untimed(rep: dict) -> dict:
    """A report without its audit timestamp (the only field allowed to differ between runs)."""
    if rep.get("audit"):
        rep["audit"].pop("timestamp", None)
    return rep


def test_scan_ray_equals_local(cluster, images):
    from sleuth.engine import scan_ray
    from sleuth.engine.inputs import expand
    from sleuth.pipeline import scan_many

    items, problems = expand([str(images)])
    assert len(items) == N_SCAN + 2 and not problems
    local = [_untimed(r.to_dict()) for r in scan_many(items, tier="fast")]
    ray_ = [_untimed(r) for r in scan_ray(items, tier="fast", shard_size=64)]
    assert json.dumps(ray_) == json.dumps(local)
    assert sum(1 for r in ray_ if r["error"]) == 2  # the broken and the empty file, reported per item


def test_manifest_bad_entries_reported_per_item(cluster, images, tmp_path):
    good = sorted(images.glob("im*.jpg"))[:5]
    man = tmp_path / "list.txt"
    man.write_text("# a comment\n" + "\n".join([str(good[0]), "missing.jpg", str(images / "zz-broken.jpg"),
                                                 *map(str, good[1:])]) + "\n")
    p = _cli("scan", str(man), "--fast", "-f", "json", "--engine", "ray", "--ray-address", cluster, check_rc=1)
    rows = json.loads(p.stdout)
    assert [r["path"] for r in rows][:3] == [str(good[0]), str(tmp_path / "missing.jpg"), str(images / "zz-broken.jpg")]
    assert len(rows) == 7 and [bool(r["error"]) for r in rows] == [False, True, True, False, False, False, False]
    assert "no such file" in rows[1]["error"]
    errs = [ln for ln in p.stderr.splitlines() if ln.startswith(str(tmp_path / "missing.jpg"))]
    assert len(errs) == 1  # one line naming the entry, and the job went on
    # the same entries as a Parquet manifest (img2dataset's 'url' column) list identically
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sleuth.engine.inputs import expand

    pq.write_table(pa.table({"url": [str(good[0]), "missing.jpg"]}), tmp_path / "list.parquet")
    items, _ = expand([str(tmp_path / "list.parquet")])
    assert items == [str(good[0]), str(tmp_path / "missing.jpg")]


_DRIVER = """
import json, sys
from sleuth.engine import scan_ray
items = json.loads(open(sys.argv[1]).read())
out = list(scan_ray(items, tier="fast", shards=sys.argv[2], shard_size=20, address=sys.argv[3], workers=1))
open(sys.argv[4], "w").write(json.dumps(out))
"""


def test_resume_after_killed_driver(cluster, images, tmp_path):
    from sleuth.engine.inputs import expand
    from sleuth.pipeline import scan_many

    items, _ = expand([str(images)])
    items = items * 3  # 606 items, 31 shards: long enough that the kill lands mid-job
    (tmp_path / "items.json").write_text(json.dumps(items))
    shards, out = tmp_path / "job", tmp_path / "out.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-c", _DRIVER, str(tmp_path / "items.json"), str(shards), cluster, str(out)]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while not list((shards / "reports").glob("reports_*.parquet")) and time.time() - t0 < 180:
        assert proc.poll() is None, "driver ended before writing a shard"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # kill the driver midway
    proc.wait()
    first = {p.name: p.stat().st_mtime_ns for p in (shards / "reports").glob("reports_*.parquet")}
    assert 1 <= len(first) < 31, sorted(first)
    subprocess.run(args, env=env, check=True, timeout=300, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = {p.name: p.stat().st_mtime_ns for p in (shards / "reports").glob("reports_*.parquet")}
    assert len(after) == 31 and all(after[k] == v for k, v in first.items())  # finished shards reused
    local = [_untimed(r.to_dict()) for r in scan_many(items, tier="fast")]
    assert json.dumps([_untimed(r) for r in json.loads(out.read_text())]) == json.dumps(local)
    m = json.loads((shards / "manifest.json").read_text())
    assert m["finished_shards"] == list(range(31)) and m["n_items"] == 606


def _table(idx, q):
    return idx.db.execute(q).fetchall()


def test_index_add_ray_equals_local_and_resumes(cluster, images, tmp_path):
    """`sleuth index add --engine ray` (in-process CLI, joining the test cluster) fills the same
    index as the local engine; `sleuth search` answers the same; a lost shard is recomputed and
    the others reused."""
    from typer.testing import CliRunner

    from sleuth.cli import app
    from sleuth.copydetect.index import CopyIndex
    from sleuth.engine import index_add_ray
    from sleuth.engine.inputs import expand

    items, _ = expand([str(images)])
    items = items[:10] + [str(images / "zz-broken.jpg"), items[3]]  # a broken file and a duplicate
    a = CopyIndex.create_or_open(tmp_path / "a.idx")
    ra = a.add(items)
    job = tmp_path / "job"
    run = CliRunner().invoke(app, ["index", "add", str(tmp_path / "b.idx"), *items, "-f", "json", "--engine", "ray",
                                   "--ray-address", cluster, "--shards", str(job)])
    assert run.exit_code == 1, run.output  # the broken file: skipped, listed, exit 1
    doc = json.loads(run.stdout[run.stdout.index("{"):])
    assert [(d["id"], d["path"]) for d in doc["added"]] == ra.added
    assert [(d["path"], d["reason"]) for d in doc["skipped"]] == ra.skipped
    assert [(d["path"], d["existing_id"]) for d in doc["duplicates"]] == ra.duplicates
    assert len(ra.skipped) == 1 and len(ra.duplicates) == 1
    b = CopyIndex.open(tmp_path / "b.idx")
    for q in ("SELECT id, path, sha256, width, height, bytes, labels, role, pdq_quality FROM images ORDER BY id",
              "SELECT id, descriptor, data FROM vectors ORDER BY id, descriptor", "SELECT id, data FROM local ORDER BY id"):
        assert _table(a, q) == _table(b, q)
    q = items[5]
    sl = CliRunner().invoke(app, ["search", str(tmp_path / "a.idx"), q, "-f", "json"]).stdout
    sr = CliRunner().invoke(app, ["search", str(tmp_path / "b.idx"), q, "-f", "json"]).stdout
    assert sl == sr and json.loads(sl)[0]["matches"][0]["is_copy"]
    # clip-retrieval layout: img_emb/*.npy rows aligned with metadata/*.parquet rows without error
    import numpy as np
    import pyarrow.parquet as pq

    emb = np.load(job / "img_emb" / "img_emb_00000.npy")
    meta = pq.read_table(job / "metadata" / "metadata_00000.parquet").to_pylist()
    assert emb.shape == (sum(r["error"] is None for r in meta), 512) and len(meta) == 12
    # resume: the same job into the same (emptied) index, one shard lost: recomputed, others reused
    from sleuth.engine.shards import ShardStore

    store = ShardStore(str(tmp_path / "job2"), "describe", "k", items, 4)
    res = index_add_ray(CopyIndex.create_or_open(tmp_path / "c.idx"), items, shards=store.root, shard_size=4)
    (tmp_path / "job2" / "metadata" / "metadata_00001.parquet").unlink()
    kept = (tmp_path / "job2" / "metadata" / "metadata_00002.parquet").stat().st_mtime_ns
    import shutil

    shutil.rmtree(tmp_path / "job2" / "ingest")
    c = CopyIndex.open(tmp_path / "c.idx")
    for t in ("vectors", "local", "images", "sqlite_sequence"):
        c.db.execute(f"DELETE FROM {t}")
    rc = index_add_ray(c, items, shards=store.root, shard_size=4)
    assert res.added == rc.added == ra.added and (tmp_path / "job2" / "metadata" / "metadata_00001.parquet").exists()
    assert (tmp_path / "job2" / "metadata" / "metadata_00002.parquet").stat().st_mtime_ns == kept
    assert _table(c, "SELECT id, descriptor, data FROM vectors ORDER BY id, descriptor") == \
        _table(a, "SELECT id, descriptor, data FROM vectors ORDER BY id, descriptor")


def test_foreign_shard_folder_refused(tmp_path):
    from typer.testing import CliRunner

    from sleuth.cli import app
    from sleuth.engine.shards import ShardStore
    from sleuth.errors import UsageError

    ShardStore(str(tmp_path / "job"), "scan", "key-1", ["a.jpg", "b.jpg"], 1).open()
    ShardStore(str(tmp_path / "job"), "scan", "key-1", ["a.jpg", "b.jpg"], 1).open()  # same job: reopens
    with pytest.raises(UsageError, match="another job"):
        ShardStore(str(tmp_path / "job"), "scan", "key-2", ["a.jpg"], 1).open()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x").write_text("x")
    with pytest.raises(UsageError, match="not empty"):
        ShardStore(str(tmp_path / "other"), "scan", "key-1", ["a.jpg"], 1).open()
    r = CliRunner().invoke(app, ["scan", "a.jpg", "--fast", "--workers", "2"])
    assert r.exit_code == 2 and "need --engine ray" in r.output


@pytest.mark.slow
def test_detect_ray_equals_local(cluster, images):
    """`sleuth detect --engine ray` rows equal the local command's (detector loaded once per actor)."""
    from typer.testing import CliRunner

    from sleuth.cli import app

    files = [str(p) for p in sorted(images.glob("im000[0-3].*"))] + [str(images / "zz-empty.png")]
    loc = CliRunner().invoke(app, ["detect", *files, "-f", "json"])
    ray_ = CliRunner().invoke(app, ["detect", *files, "-f", "json", "--engine", "ray", "--ray-address", cluster, "--workers", "1"])
    if "model" in loc.output and loc.exit_code == 1 and not loc.stdout.strip():
        pytest.skip("detector models not installed")
    assert loc.exit_code == ray_.exit_code == 1  # the empty file
    assert json.loads(ray_.stdout) == json.loads(loc.stdout)
