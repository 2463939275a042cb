"""The `ai-generated` evidence contract and bad-input handling of the format-2 detector."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from sleuth.cli import app

from .conftest import encode, natural_image

runner = CliRunner()
BANDS = {"likely-ai", "uncertain", "no-ai-signal", "not-enough-signal"}


def test_scan_evidence_details_contract(tmp_path):
    p = tmp_path / "photo.jpg"
    p.write_bytes(encode(natural_image(300, 400, seed=21), "JPEG", quality=90))
    res = runner.invoke(app, ["scan", str(p), "--analyzers", "ai-generated", "--format", "json"])
    assert res.exit_code == 0, res.output
    e = json.loads(res.stdout)[0]["evidence"][0]
    d = e["details"]
    assert 0 <= d["probability"] <= 1 and d["probability"] == pytest.approx(e["score"], abs=1e-6)  # score: 6 places
    assert 0 < d["threshold"] < 1 and d["target_fpr"] == pytest.approx(0.01)
    assert d["band"] in BANDS and isinstance(d["reliability"], list)
    assert isinstance(d["family"], str) if d["is_ai"] else d["family"] is None  # a family only with an AI verdict
    assert d["band"] != "likely-ai" or d["probability"] > d["threshold"]
    assert "detectors" in d and "fired" in d and "reliability_facts" in d


def _modes():
    rgb = natural_image(300, 300, seed=22)
    grey = Image.fromarray(rgb).convert("L")
    rgba = Image.fromarray(rgb).convert("RGBA")
    i16 = Image.fromarray(np.asarray(grey, np.uint16) * 257)
    cmyk = Image.fromarray(rgb).convert("CMYK")
    out = {}
    for name, im, fmt in (("grey.png", grey, "PNG"), ("rgba.png", rgba, "PNG"), ("16bit.png", i16, "PNG"),
                          ("cmyk.jpg", cmyk, "JPEG")):
        buf = io.BytesIO()
        im.save(buf, fmt)
        out[name] = buf.getvalue()
    return out


def test_odd_modes_tiny_and_huge_inputs(tmp_path):
    paths = []
    for name, data in _modes().items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    (tmp_path / "tiny.png").write_bytes(encode(natural_image(40, 50, seed=23), "PNG"))
    big = np.tile(natural_image(500, 500, seed=24), (8, 8, 1))  # 4000 x 4000: scored from its centre region
    (tmp_path / "big.jpg").write_bytes(encode(big, "JPEG", quality=90))
    res = runner.invoke(app, ["detect", *paths, str(tmp_path / "tiny.png"), str(tmp_path / "big.jpg"), "-f", "json"])
    assert res.exit_code == 0, res.output
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in json.loads(res.stdout)}
    for name in ("grey.png", "rgba.png", "16bit.png", "cmyk.jpg", "big.jpg"):
        assert rows[name]["error"] is None and rows[name]["band"] in BANDS, name
    assert rows["tiny.png"]["band"] == "not-enough-signal" and rows["tiny.png"]["verdict"] == "uncertain"
