"""The scan pipeline and CLI contract: JSON shape, exit codes, error isolation, outputs."""
from __future__ import annotations

import json

import pytest
from PIL import Image
from typer.testing import CliRunner

import sleuth
from sleuth.analyzers import register
from sleuth.cli import app
from sleuth.report import Evidence

from .conftest import encode, natural_image

REQUIRED = {"path", "sha256", "format", "width", "height", "error", "evidence", "summary"}
EV_REQUIRED = {"analyzer", "kind", "verdict", "score", "p_value", "strength", "summary", "details"}


@register("test-crash", kind="manipulation", tier="test")
def _crash(img, ctx):
    raise RuntimeError("boom")


@register("test-mean", kind="manipulation", tier="test")
def _mean(img, ctx):
    heat = (img.gray.astype(float) / 255.0)
    return Evidence(analyzer="test-mean", kind="manipulation", verdict="ok", score=float(heat.mean()),
                    strength="weak", summary="mean brightness").with_maps({"brightness": heat})


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    (d / "a.jpg").write_bytes(encode(natural_image(120, 160, 1), "JPEG", quality=85))
    (d / "b.png").write_bytes(encode(natural_image(100, 90, 2), "PNG"))
    (d / "broken.jpg").write_bytes(encode(natural_image(64, 64, 3), "JPEG")[:200])
    (d / "notes.txt").write_text("hello")
    return d


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_json_contract_and_exit_code(folder):
    res = run("scan", folder, "--format", "json", "--analyzers", "test-mean")
    assert res.exit_code == 1  # some files failed, others still reported
    data = json.loads(res.stdout)
    assert [r["path"].split("/")[-1] for r in data] == ["a.jpg", "b.png", "broken.jpg", "notes.txt"]
    for r in data:
        assert REQUIRED <= set(r)
    ok = {r["path"].split("/")[-1]: r for r in data}
    assert ok["a.jpg"]["error"] is None and ok["a.jpg"]["width"] == 160 and ok["a.jpg"]["format"] == "JPEG"
    assert len(ok["a.jpg"]["sha256"]) == 64
    ev = ok["a.jpg"]["evidence"][0]
    assert EV_REQUIRED <= set(ev) and ev["analyzer"] == "test-mean"
    for bad in ("broken.jpg", "notes.txt"):
        assert ok[bad]["error"] and "\n" not in ok[bad]["error"] and bad in ok[bad]["error"]
    # one line per failed file on stderr
    assert sum(1 for line in res.stderr.splitlines() if "broken.jpg" in line) == 1


def test_all_good_exits_zero(folder):
    res = run("scan", folder / "a.jpg", folder / "b.png", "--format", "jsonl", "-a", "test-mean")
    assert res.exit_code == 0, res.stderr
    lines = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    assert len(lines) == 2 and all(r["error"] is None for r in lines)


def test_unknown_analyzer_is_usage_error(folder):
    res = run("scan", folder, "-a", "no-such-analyzer")
    assert res.exit_code == 2 and "no-such-analyzer" in res.stderr


def test_crash_in_one_analyzer_is_isolated(folder):
    rep = sleuth.scan(folder / "a.jpg", analyzers=["test-crash", "test-mean"])
    crash, mean = rep.get("test-crash"), rep.get("test-mean")
    assert crash.error and "boom" in crash.error
    assert mean.error is None and 0 < mean.score < 1


def test_html_and_maps_written_atomically(folder, tmp_path):
    out = tmp_path / "report.html"
    out.write_text("previous report")
    maps = tmp_path / "maps"
    res = run("scan", folder / "a.jpg", "-a", "test-mean", "--format", "html", "--out", out, "--maps-dir", maps)
    assert res.exit_code == 0
    html = out.read_text()
    assert "a.jpg" in html and "data:image/png;base64" in html and "test-mean" in html
    pngs = list(maps.glob("*.png"))
    assert len(pngs) == 1 and Image.open(pngs[0]).size == (160, 120)
    assert not list(tmp_path.glob(".*.tmp"))


def test_api_accepts_bytes_and_pil(folder):
    data = (folder / "b.png").read_bytes()
    r1 = sleuth.scan(data, analyzers=["test-mean"])
    r2 = sleuth.scan(Image.open(folder / "b.png"), analyzers=["test-mean"])
    assert r1.width == r2.width == 90 and r1.error is None
    assert abs(r1.get("test-mean").score - r2.get("test-mean").score) < 1e-9


def test_scan_many_parallel_keeps_order(folder):
    paths = sorted(str(p) for p in folder.iterdir())
    reps = list(sleuth.scan_many(paths, jobs=2, analyzers=["test-mean"]))
    # test analyzers registered in this process are not known to fresh workers: errors are per-analyzer or per-file, never a crash
    assert [r.path for r in reps] == paths


def test_schema_command():
    res = run("schema")
    schema = json.loads(res.stdout)
    assert res.exit_code == 0 and schema["type"] == "array"
    assert "Evidence" in json.dumps(schema)


def test_missing_path(tmp_path):
    res = run("scan", tmp_path / "nope.jpg", "-a", "test-mean", "--format", "json")
    assert res.exit_code == 1 and "no such file" in res.stderr
