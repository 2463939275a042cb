"""`sleuth train aigen` with the format-2 recipe on a tiny folder made here: reproducible head,
provenance and out-of-fold figures recorded, detect and enroll work with it."""
from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from sleuth.cli import app

from .conftest import encode, natural_image

runner = CliRunner()


def _upsampled(seed: int, h: int = 256, w: int = 256) -> np.ndarray:
    small = natural_image(h // 2, w // 2, seed=seed)
    return np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)


def _data(root, n=8):
    (root / "real" / "photos").mkdir(parents=True)
    for fam in ("biggan", "sdxl"):  # two known families -> leave-one-family-out has folds to hold out
        (root / "synthetic" / fam).mkdir(parents=True)
    for i in range(n):
        (root / "real" / "photos" / f"r{i}.jpg").write_bytes(encode(natural_image(256, 256, seed=100 + i), "JPEG", quality=92))
        fam = ("biggan", "sdxl")[i % 2]
        (root / "synthetic" / fam / f"f{i}.png").write_bytes(encode(_upsampled(200 + i), "PNG"))
    return root


def test_train_v2_reproducible_with_provenance_then_detect_and_enroll(tmp_path):
    data = _data(tmp_path / "data")
    outs = []
    for k in (1, 2):
        out = tmp_path / f"h{k}.json"
        res = runner.invoke(app, ["train", "aigen", str(data), "--out", str(out), "--fpr", "0.1",
                                  "--cache", str(tmp_path / "cache")])
        assert res.exit_code == 0, res.output
        h = json.loads(out.read_text())
        h["provenance"].pop("command")
        h["provenance"].pop("date")
        outs.append(h)
    assert outs[0] == outs[1]  # same data, same command -> the same head
    h = outs[0]
    assert h["format"] == "sleuth-aigen-head/2" and "listing sha256" in h["provenance"]["data"][0]
    assert {"auc", "tpr_fold_decision", "fpr_by_source", "tpr_by_family"} <= set(h["oof"])
    assert h["selection"]["selected"] and len(h["selection"]["grid"]) >= 2
    assert 0 <= h["threshold_low"] <= h["threshold"] <= 1
    rows = json.loads(runner.invoke(app, ["detect", str(data / "real" / "photos" / "r0.jpg"),
                                          "--head", str(tmp_path / "h1.json"), "-f", "json"]).stdout)
    r = rows[0]
    assert set(r["detectors"]) == {"tower", "clip-probe", "spectral"} and len(r["crop_scores"]) == 2
    assert r["band"] in ("likely-ai", "uncertain", "no-ai-signal")
    gen = tmp_path / "mygen"
    gen.mkdir()
    for i in range(3):
        (gen / f"{i}.png").write_bytes(encode(_upsampled(300 + i), "PNG"))
    res = runner.invoke(app, ["train", "enroll", "my-gen", str(gen), "--head", str(tmp_path / "h1.json"),
                              "--out", str(tmp_path / "user.json")])
    assert res.exit_code == 0, res.output
    from sleuth.detect import heads

    assert "my-gen" in heads.load(tmp_path / "user.json")["families"]
