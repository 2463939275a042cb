"""sleuth detect / train / enroll and the ai-generated scan analyzer, on fixtures made here."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from sleuth.cli import app

from .conftest import encode, natural_image

runner = CliRunner()
KEYS = {"path", "error", "probability", "is_ai", "fpr_target", "detectors", "family", "family_probability", "reliability"}


def _upsampled(seed: int, h: int = 192, w: int = 256) -> np.ndarray:
    """A 'generated-looking' image: nearest-neighbour 2x up-sampling leaves a periodic trace."""
    small = natural_image(h // 2, w // 2, seed=seed)
    return np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)


@pytest.fixture(scope="module")
def imgs(tmp_path_factory):
    d = tmp_path_factory.mktemp("detect")
    real = d / "photo.jpg"
    real.write_bytes(encode(natural_image(300, 400, seed=11), "JPEG", quality=90))
    tiny = d / "tiny.png"
    tiny.write_bytes(encode(natural_image(40, 48, seed=12), "PNG"))
    flat = np.full((200, 200, 3), 180, np.uint8)
    (d / "flat.png").write_bytes(encode(flat, "PNG"))
    (d / "notes.jpg").write_bytes(b"this is not an image")
    return d


def _json(res):
    from tests.test_contracts import _validate

    assert res.stdout.count("\n[") <= 1
    doc = json.loads(res.stdout)
    _validate("detect", doc)
    return doc


def test_detect_json_contract(imgs):
    res = runner.invoke(app, ["detect", str(imgs / "photo.jpg"), "--format", "json"])
    assert res.exit_code == 0, res.output
    out = _json(res)
    assert isinstance(out, list) and len(out) == 1
    r = out[0]
    assert KEYS <= set(r)
    assert r["error"] is None and 0.0 <= r["probability"] <= 1.0
    assert r["fpr_target"] == pytest.approx(0.01)
    assert r["is_ai"] == (r["probability"] > r["threshold"])
    assert {"tower", "clip-probe", "spectral"} <= set(r["detectors"])  # v0.1: clip-probe, rigid, spectral (rigid dropped, AUC ~0.5)
    assert r["band"] in ("likely-ai", "uncertain", "no-ai-signal") and len(r["crop_scores"]) == 2
    assert r["reliability"]["level"] == "ok" and r["verdict"] in ("no-evidence", "likely-ai")
    if not r["is_ai"]:
        assert r["family"] is None


def test_detect_is_reproducible(imgs):
    a = _json(runner.invoke(app, ["detect", str(imgs / "photo.jpg"), "-f", "json"]))[0]
    b = _json(runner.invoke(app, ["detect", str(imgs / "photo.jpg"), "-f", "json"]))[0]
    assert a["probability"] == b["probability"] and a["detectors"] == b["detectors"]


def test_bad_inputs_are_reported_and_others_processed(imgs):
    res = runner.invoke(app, ["detect", str(imgs / "notes.jpg"), str(imgs / "tiny.png"), str(imgs / "flat.png"),
                              str(imgs / "missing.png"), "-f", "json"])
    assert res.exit_code == 1
    rows = {Path(r["path"]).name: r for r in _json(res)}
    assert "notes.jpg" in rows["notes.jpg"]["error"] and "not an image" in rows["notes.jpg"]["error"]
    assert "no such file" in rows["missing.png"]["error"]
    assert rows["tiny.png"]["verdict"] == "uncertain" and "tiny" in rows["tiny.png"]["reliability"]["flags"]
    assert rows["tiny.png"]["probability"] is not None
    assert rows["flat.png"]["verdict"] == "uncertain" and "flat" in rows["flat.png"]["reliability"]["flags"]
    errs = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert any("notes.jpg" in ln for ln in errs) and all("Traceback" not in ln for ln in errs)


def test_heavily_compressed_is_flagged(tmp_path):
    p = tmp_path / "q20.jpg"
    p.write_bytes(encode(natural_image(256, 256, seed=3), "JPEG", quality=20))
    r = _json(runner.invoke(app, ["detect", str(p), "-f", "json"]))[0]
    assert "heavy-compression" in r["reliability"]["flags"] and r["verdict"] == "uncertain"


def test_missing_model_names_four_places(imgs, tmp_path):
    env = dict(os.environ, SLEUTH_OFFLINE="1", SLEUTH_CACHE=str(tmp_path / "cache"),
               SLEUTH_MODEL_CLIP_VIT_B16=str(tmp_path / "nope.onnx"))
    res = subprocess.run([sys.executable, "-m", "sleuth.cli", "detect", str(imgs / "photo.jpg")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 1
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    for place in ("explicit path", "cache", "carrier package", "download"):
        assert place in lines[0]


def test_scan_has_separate_ai_generated_evidence(imgs):
    res = runner.invoke(app, ["scan", str(imgs / "photo.jpg"), "--analyzers", "ai-generated", "--format", "json"])
    assert res.exit_code == 0, res.output
    ev = json.loads(res.stdout)[0]["evidence"]
    assert [e["kind"] for e in ev] == ["ai-generated"]
    e = ev[0]
    assert e["verdict"] in ("likely-ai", "no-evidence", "uncertain", "not-enough-signal") and 0 <= e["score"] <= 1
    assert "detectors" in e["details"] and "fired" in e["details"]


def test_tile_map_written(imgs, tmp_path):
    res = runner.invoke(app, ["detect", str(imgs / "photo.jpg"), "-f", "json", "--maps-dir", str(tmp_path)])
    r = _json(res)[0]
    m = Path(r["maps"]["ai-tiles"])
    from PIL import Image

    assert m.is_file() and Image.open(m).size[0] > 8


def _train_set(root: Path, n: int = 14) -> Path:
    for i in range(n):
        (root / "real" / "photos").mkdir(parents=True, exist_ok=True)
        (root / "synthetic" / "upsampler").mkdir(parents=True, exist_ok=True)
        (root / "real" / "photos" / f"r{i}.jpg").write_bytes(encode(natural_image(192, 256, seed=100 + i), "JPEG", quality=92))
        (root / "synthetic" / "upsampler" / f"f{i}.png").write_bytes(encode(_upsampled(200 + i), "PNG"))
    return root


def test_train_reproduces_head_and_detects(tmp_path):
    data = _train_set(tmp_path / "data")
    outs = []
    out = tmp_path / "head1.json"
    for _k in (1, 2):  # same command twice -> the same bytes
        res = runner.invoke(app, ["train", "aigen", str(data), "--out", str(out), "--detectors", "spectral",
                                  "--fpr", "0.1", "--cache", str(tmp_path / "cache")])
        assert res.exit_code == 0, res.output
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    head = json.loads(outs[0])
    assert "listing sha256" in head["provenance"]["data"] and "sleuth train aigen" in head["provenance"]["command"]
    fake = tmp_path / "fake.png"
    fake.write_bytes(encode(_upsampled(999), "PNG"))
    real = tmp_path / "real.jpg"
    real.write_bytes(encode(natural_image(192, 256, seed=998), "JPEG", quality=92))
    rows = _json(runner.invoke(app, ["detect", str(fake), str(real), "--head", str(tmp_path / "head1.json"), "-f", "json"]))
    assert rows[0]["probability"] > rows[1]["probability"]
    assert set(rows[0]["detectors"]) == {"spectral"}


def test_train_usage_errors(tmp_path):
    res = runner.invoke(app, ["train", "aigen", str(tmp_path / "nowhere"), "--out", str(tmp_path / "h.json")])
    assert res.exit_code == 2 and "no such manifest or folder" in res.stderr
    res = runner.invoke(app, ["train", "aigen", str(tmp_path), "--out", str(tmp_path / "h.json"), "--detectors", "magic"])
    assert res.exit_code == 2 and "unknown detector" in res.stderr


def test_train_npr_small(tmp_path):
    pytest.importorskip("torch")
    data = _train_set(tmp_path / "data", n=8)
    out = tmp_path / "h.json"
    res = runner.invoke(app, ["train", "aigen", str(data), "--out", str(out), "--detectors", "spectral,npr",
                              "--fpr", "0.1", "--npr-epochs", "2", "--cache", str(tmp_path / "cache")])
    assert res.exit_code == 0, res.output
    head = json.loads(out.read_text())
    assert head["detectors"]["npr"]["weights"] == "h.npr.npz" and (tmp_path / "h.npr.npz").stat().st_size < 400_000
    r = _json(runner.invoke(app, ["detect", str(data / "real" / "photos" / "r0.jpg"), "--head", str(out), "-f", "json"]))[0]
    assert set(r["detectors"]) == {"spectral", "npr"}


def test_enroll_new_family(tmp_path):
    gen = tmp_path / "mygen"
    gen.mkdir()
    for i in range(3):
        (gen / f"{i}.png").write_bytes(encode(_upsampled(300 + i, 224, 224), "PNG"))
    (gen / "broken.png").write_bytes(b"\x89PNG broken")
    out = tmp_path / "user.json"
    res = runner.invoke(app, ["train", "enroll", "my-gen", str(gen), "--out", str(out)])
    assert res.exit_code == 1  # one file failed, the family is still enrolled
    assert "broken.png" in res.stderr
    from sleuth.detect import heads

    head = heads.load(out)
    assert "my-gen" in head["families"] and head["families"]["my-gen"]["n"] == 3
    from sleuth.detect import protocol
    from sleuth.detect.backbone import ClipBackbone
    from sleuth.detect.detector import AigenDetector

    det = AigenDetector(out)
    if det.v2:  # the head's own attribution space (format 2: tower patch tokens of the native crops)
        from sleuth.detect import runtime2, views

        e = runtime2.raw_logits(det.head, det.tower, views.analysed(_upsampled(300, 224, 224)))[2]
    else:
        e = ClipBackbone.shared().embed(protocol.apply(_upsampled(300, 224, 224), "jpeg90"))
    assert heads.attribute(head, e)[0] == "my-gen"
    res = runner.invoke(app, ["train", "enroll", "x", str(tmp_path / "nowhere")])
    assert res.exit_code == 2
