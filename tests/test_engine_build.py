"""Sharded FAISS build: plan choices, recall of the merged IVF-PQ (memory and on-disk merge)
against exact search, and a built index used unchanged by `sleuth search`."""
from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest

from sleuth.copydetect import build as B

pytest.importorskip("ray")


def test_plan_follows_size_and_budget():
    small = B.plan(10_000, 512)
    assert small.structure == "flat-ip"
    big = B.plan(10_000_000, 512, memory_budget=4 << 30)
    assert big.structure == "ivf-pq" and big.nlist == 16384 and big.m == 128 and big.merge == "memory"
    mid = B.plan(10_000_000, 512, memory_budget=1 << 30)
    assert mid.m == 32 and mid.merge == "memory" and mid.bytes_per_vector == 40 and mid.nprobe == 256
    tight = B.plan(10_000_000, 512, memory_budget=256 << 20)  # 16 B/vector x 10M > 128 MiB
    assert tight.merge == "ondisk" and tight.m == 64


def _exact(x, q, k):
    s = q @ x.T
    return np.argsort(-s, axis=1)[:, :k]


@pytest.mark.parametrize("merge_budget", [4 << 30, 64 << 10])
def test_sharded_build_recall_vs_exact(tmp_path, merge_budget):
    n, dim = 8_000, 32
    srcs = [partial(B.synthetic_source, s, 2_000, dim, s * 2_000, 100) for s in range(4)]
    p = B.plan(n, dim, merge_budget, force_ivf=True)
    assert p.merge == ("ondisk" if merge_budget < (1 << 20) else "memory")
    idx, p2, timings = B.build(srcs, n, dim, tmp_path / "b", memory_budget=merge_budget, force_ivf=True, engine="local")
    assert p2 == p and idx.ntotal == n and set(timings) == {"train", "add", "merge"}
    x = np.concatenate([s()[0] for s in srcs])
    q = x[::100] + 0.02 * np.random.default_rng(1).standard_normal((80, dim)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    _, got = idx.search(q, 10)
    want = _exact(x, q, 10)
    recall1 = float(np.mean(got[:, 0] == want[:, 0]))
    recall10 = float(np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, want, strict=False)]))
    assert recall1 >= 0.9 and recall10 >= 0.6, (recall1, recall10)
    rec = json.loads((tmp_path / "b" / "build.json").read_text())
    assert rec["plan"]["factory"] == p.factory and rec["shards"] == 4


def test_ray_build_installed_in_index_is_used_by_search(tmp_path, monkeypatch):
    """12k synthetic references in a sleuth index, built with one Ray task per shard; `sleuth
    search` (same command, in-process) returns the planted near-copy first."""
    import faiss
    from typer.testing import CliRunner

    from sleuth.cli import app
    from sleuth.copydetect import index as I
    from sleuth.engine.ray_engine import ray_session
    from tests.conftest import encode, natural_image

    monkeypatch.setattr(I, "FLAT_MAX_FLOAT", 0)  # IVF-PQ from 10k references instead of 500k
    img = tmp_path / "ref.jpg"
    img.write_bytes(encode(natural_image(128, 160, seed=3), "JPEG", quality=92))
    idx = I.CopyIndex.create_or_open(tmp_path / "i.idx", ["sscd", "pdq"], local_features=False)
    idx.add([str(img)])
    x, _ = B.synthetic_source(7, 12_000, 512, 0, 300)
    rows = [(f"/synthetic/{i}.jpg", f"{i:064x}") for i in range(len(x))]
    db = idx.db
    db.execute("BEGIN")
    for (p, sha), v in zip(rows, x, strict=False):
        iid = db.execute("INSERT INTO images(path, sha256, width, height, bytes, added, labels, role) "
                         "VALUES (?,?,?,?,?,0,'{}','reference')", (p, sha, 100, 100, 1)).lastrowid
        db.execute("INSERT INTO vectors VALUES (?,?,?)", (iid, "sscd", v.tobytes()))
        db.execute("INSERT INTO vectors VALUES (?,?,?)", (iid, "pdq", np.zeros(32, np.uint8).tobytes()))
    I.CopyIndex._bump(db)
    db.execute("COMMIT")
    with ray_session(num_cpus=2):
        p = B.build_for_index(idx, "sscd", shard_size=4_000, engine="ray", memory_budget=2 << 20)  # PQ16: quick to train
    assert p.structure == "ivf-pq"
    m = json.loads((tmp_path / "i.idx" / I.MANIFEST).read_text())
    assert m["structures"]["sscd"] == "ivf-pq" and m["builds"]["sscd"]["factory"] == p.factory
    fresh = I.CopyIndex.open(tmp_path / "i.idx")
    fi = fresh.faiss_index("sscd")
    assert isinstance(fi, faiss.IndexIVFPQ) and fi.ntotal == 12_001  # the built file, not a rebuild
    r = CliRunner().invoke(app, ["search", str(tmp_path / "i.idx"), str(img), "-f", "json", "--no-verify"])
    assert r.exit_code == 0, r.output
    best = json.loads(r.output)[0]["matches"][0]
    assert best["path"] == str(img) and best["similarity"] > 0.99
