"""The calibrated image-level decision, its data file, the new generators and the scaling checks."""
from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image

from sleuth.forensics import decision, scaling, synth
from sleuth.forensics.common import Result
from sleuth.forensics.evidence import fused_evidence, to_evidence
from sleuth.imageio import load_image

from .conftest import natural_image


def _toy(n_host=120, seed=0):
    rng = np.random.default_rng(seed)
    x, y, g = [], [], []
    for h in range(n_host):
        x.append(rng.normal(0, 1, 4))
        y.append(0)
        g.append(h)
        x.append(rng.normal(0, 1, 4) + np.array([3.0, 0, 0, 0]))
        y.append(1)
        g.append(h)
    return np.array(x), np.array(y), np.array(g)


def test_fit_sets_out_of_fold_threshold_and_round_trips(tmp_path):
    x, y, g = _toy()
    d, oof = decision.fit(x, y, g, ["a", "b", "c", "d"], meta={"command": "toy"})
    assert d.meta["oof_fpr"] <= 0.01 + 1e-9 and d.meta["oof_tpr"] > 0.5
    assert abs(d.threshold - oof["threshold"]) < 1e-12 and d.coef[0] > 0 and abs(d.coef[0]) > 3 * abs(d.coef[1:]).max()
    p = decision.save(d, tmp_path / "d.json")
    back = decision.load(p)
    assert np.allclose(back.probability(x), d.probability(x))
    meta = json.loads(p.read_text())
    assert meta["command"] == "toy" and meta["target_fpr"] == 0.01 and "date" in meta


def test_analyzer_calibration_is_the_one_percent_point():
    v = list(np.arange(1000, dtype=float))
    cal = decision.fit_analyzer_calibration({"ela": v, "noise": [None, 1.0, 2.0]})
    assert cal["ela"]["threshold"] == 989.0 and sum(x > 989 for x in v) == 10
    assert cal["noise"]["n"] == 2


def test_packaged_decision_file_records_provenance():
    d = decision.packaged()
    assert d is not None, "sleuth/data/forensics/decision.json missing: run bench/forensics.py --calibrate"
    assert d.target_fpr == 0.01 and d.features == decision.feature_names()
    assert d.meta["command"].startswith(".venv/bin/python bench/forensics.py --calibrate")
    assert set(d.meta["data_manifest_sha256"]) >= {"aigen", "forensics"} and d.meta["date"]
    assert set(d.analyzers) >= {"ela", "noise", "copy-move"} and 0 < d.threshold < 1


def test_features_fixed_length_whatever_ran():
    ok = Result("ela", heat=np.ones((4, 4), np.float32), score=5.0)
    skipped = Result("jpeg-dq", status="skipped", reliable=False)
    f1 = decision.image_features({"ela": ok, "jpeg-dq": skipped})
    f2 = decision.image_features({})
    assert f1.shape == f2.shape == (len(decision.feature_names()),)
    names = decision.feature_names()
    assert f1[names.index("ela:ran")] == 1 and f1[names.index("ela:area")] == 1 and f2.sum() == 0


def test_manipulation_evidence_states_its_operating_point():
    rgb = natural_image(320, 448, seed=2)
    b, _ = synth.pristine(rgb, np.random.default_rng(0), 90)
    img = load_image(b)
    ev = fused_evidence(img)
    assert ev.details["target_fpr"] == 0.01 and ev.details["threshold"] == 0.5
    assert ev.details["decision"] == "stacked" and 0 < ev.details["stacked_threshold"] < 1
    item = to_evidence(Result("ela", heat=np.zeros((4, 4), np.float32), score=1.0), img)
    assert item.details["target_fpr"] == 0.01 and item.details["raw_threshold"] is not None


def test_colour_adjust_changes_only_the_region():
    rgb = natural_image(256, 320, seed=4)
    b, m = synth.colour_adjust(rgb, np.random.default_rng(1), gamma=1.5, saturation=1.4, gain=1.1, out_quality=95)
    out = np.asarray(Image.open(io.BytesIO(b)).convert("RGB")).astype(float)
    d = np.abs(out - rgb).mean(axis=2)
    assert 0.02 < m.mean() < 0.2
    assert d[m].mean() > 4 * d[~m].mean()


def test_area_scaling_attack_caught_by_blockiness_and_clean_quiet():
    from sleuth.attacks.scaling import downscale, scaling_attack

    src = np.asarray(Image.fromarray(natural_image(384, 384, seed=21)).resize((640, 640), Image.Resampling.BICUBIC))
    tgt = natural_image(160, 160, seed=22)
    att = scaling_attack(src, tgt, "area")
    assert np.abs(downscale(att, (160, 160), "area").astype(float) - tgt).mean() < 3
    g = np.asarray(Image.fromarray(att).convert("L"))
    gc = np.asarray(Image.fromarray(src).convert("L"))
    assert scaling.blockiness(g, (160, 160)) > scaling.blockiness(gc, (160, 160)) + 0.1
    assert scaling.analyze(att, sizes=[(160, 160)]).details["detected"]
    assert not scaling.analyze(src, sizes=[(160, 160)]).details["detected"]


def test_scaling_fit_calibration_separates_and_records(tmp_path):
    clean = {k: list(np.linspace(0, 0.1, 200)) for k in scaling.CHECKS}
    attack = {k: list(np.linspace(0.5, 1.0, 200)) for k in scaling.CHECKS}
    out = scaling.fit_calibration(clean, attack, {"command": "toy"}, tmp_path / "s.json")
    c, w = out["checks"]["consistency"]
    assert 0.1 < c < 0.5 and w > 0
    assert json.loads((tmp_path / "s.json").read_text())["command"] == "toy"


def test_boosted_trees_export_matches_scikit_learn(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 4))
    y = ((x[:, 0] > 0.5) ^ (x[:, 1] > 0.8)).astype(int)  # not linearly separable: trees should win
    d, _ = decision.fit(x, y, np.arange(400) // 2, list("abcd"))
    assert d.kind == "hgb" and d.meta["model"] == "hgb"
    ref = decision._hgb().fit(x, y).predict_proba(x)[:, 1]
    back = decision.load(decision.save(d, tmp_path / "h.json"))
    assert np.abs(back.probability(x) - ref).max() < 1e-9
