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
out = list(scan_ray(items, tier="fast", shards=sys.argv[2], shard_size=40, address=sys.argv[3], workers=1))
open(sys.argv[4], "w").write(json.dumps(out))
"""


def test_resume_after_killed_driver(cluster, images, tmp_path):
    from sleuth.engine.inputs import expand
    from sleuth.pipeline import scan_many

    items, _ = expand([str(images)])
    items = items[:200]
    (tmp_path / "items.json").write_text(json.dumps(items))
    shards, out = tmp_path / "job", tmp_path / "out.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-c", _DRIVER, str(tmp_path / "items.json"), str(shards), cluster, str(out)]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while not list((shards / "reports").glob("reports_*.parquet")) and time.time() - t0 < 180:
        assert proc.poll() is None, "driver ended before writing a shard"
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)  # kill the driver midway
    proc.wait()
    first = {p.name: p.stat().st_mtime_ns for p in (shards / "reports").glob("reports_*.parquet")}
    assert 1 <= len(first) < 5, first
    subprocess.run(args, env=env, check=True, timeout=300, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = {p.name: p.stat().st_mtime_ns for p in (shards / "reports").glob("reports_*.parquet")}
    assert len(after) == 5 and all(after[k] == v for k, v in first.items())  # finished shards reused
    local = [_untimed(r.to_dict()) for r in scan_many(items, tier="fast")]
    assert json.dumps([_untimed(r) for r in json.loads(out.read_text())]) == json.dumps(local)
    m = json.loads((shards / "manifest.json").read_text())
    assert m["finished_shards"] == [0, 1, 2, 3, 4] and m["n_items"] == 200


def _table(idx, q):
    return idx.db.execute(q).fetchall()


def test_index_add_ray_equals_local_and_resumes(cluster, images, tmp_path):
    from sleuth.copydetect.index import CopyIndex
    from sleuth.engine import index_add_ray
    from sleuth.engine.inputs import expand

    items, _ = expand([str(images)])
    items = items[:24] + [str(images / "zz-broken.jpg"), items[3]]  # a broken file and a duplicate
    a = CopyIndex.create_or_open(tmp_path / "a.idx")
    ra = a.add(items)
    b = CopyIndex.create_or_open(tmp_path / "b.idx")
    job = tmp_path / "job"
    rb = index_add_ray(b, items, shards=str(job), shard_size=8)
    assert rb.added == ra.added and rb.skipped == ra.skipped and rb.duplicates == ra.duplicates
    assert len(ra.skipped) == 1 and len(ra.duplicates) == 1
    for q in ("SELECT id, path, sha256, width, height, bytes, labels, role, pdq_quality FROM images ORDER BY id",
              "SELECT id, descriptor, data FROM vectors ORDER BY id, descriptor", "SELECT id, data FROM local ORDER BY id"):
        assert _table(a, q) == _table(b, q)
    # clip-retrieval layout: img_emb/*.npy rows aligned with metadata/*.parquet rows without error
    import numpy as np
    import pyarrow.parquet as pq

    emb = np.load(job / "img_emb" / "img_emb_00000.npy")
    meta = pq.read_table(job / "metadata" / "metadata_00000.parquet").to_pylist()
    assert emb.shape == (sum(r["error"] is None for r in meta), 512)
    # resume: a lost shard is recomputed, the others reused; the same job into a fresh index gives the same index
    (job / "metadata" / "metadata_00001.parquet").unlink()
    (job / "ingest").rename(tmp_path / "ingest-old")
    kept = (job / "metadata" / "metadata_00002.parquet").stat().st_mtime_ns
    c = CopyIndex.create_or_open(tmp_path / "b.idx")  # same path as the job's index: same job key
    for t in ("vectors", "local", "images"):
        c.db.execute(f"DELETE FROM {t}")
    c.db.execute("DELETE FROM sqlite_sequence")
    rc = index_add_ray(c, items, shards=str(job), shard_size=8)
    assert rc.added == ra.added and (job / "metadata" / "metadata_00001.parquet").exists()
    assert (job / "metadata" / "metadata_00002.parquet").stat().st_mtime_ns == kept
    assert _table(c, "SELECT id, descriptor, data FROM vectors ORDER BY id, descriptor") == \
        _table(a, "SELECT id, descriptor, data FROM vectors ORDER BY id, descriptor")


def test_cli_index_add_and_search_same_as_local(cluster, images, tmp_path):
    files = [str(p) for p in sorted(images.glob("im00[0-1]*.jpg"))]
    _cli("index", "add", str(tmp_path / "l.idx"), *files, "-f", "json", check_rc=0)
    p = _cli("index", "add", str(tmp_path / "r.idx"), *files, "-f", "json", "--engine", "ray", "--ray-address", cluster,
             check_rc=0)
    doc = json.loads(p.stdout)
    assert len(doc["added"]) == len(files)
    q = str(sorted(images.glob("im0012.*"))[0])
    sl = _cli("search", str(tmp_path / "l.idx"), q, "-f", "json", check_rc=0).stdout
    sr = _cli("search", str(tmp_path / "r.idx"), q, "-f", "json", check_rc=0).stdout
    assert sl.replace("l.idx", "X") == sr.replace("r.idx", "X") and json.loads(sl)[0]["matches"][0]["is_copy"]


def test_foreign_shard_folder_refused(cluster, images, tmp_path):
    from sleuth.engine import scan_ray
    from sleuth.errors import UsageError

    items = [str(p) for p in sorted(images.glob("im000*.jpg"))]
    list(scan_ray(items, tier="fast", shards=str(tmp_path / "job")))
    with pytest.raises(UsageError, match="another job"):
        list(scan_ray(items[:3], tier="fast", shards=str(tmp_path / "job")))
    p = _cli("scan", *items, "--fast", "--workers", "2")
    assert p.returncode == 2 and "need --engine ray" in p.stderr
