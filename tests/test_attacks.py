"""The shared attack suite: coverage of the issue's list, determinism, records, shapes."""
from __future__ import annotations

import numpy as np
import pytest

from sleuth.attacks import SUITE, Attack, apply, families, get, names

from .conftest import natural_image

IMG = natural_image(120, 160, seed=1)


def test_suite_covers_issue_list():
    n = set(names())
    for req in ["jpeg90", "jpeg75", "jpeg50", "webp80", "resize0.5", "resize0.75", "resize1.5", "resize0.5_up",
                "crop90", "crop75", "crop50", "crop90_off", "crop75_off", "crop50_off", "rot5", "rot-5", "rot15",
                "rot-15", "rot5_crop", "rot-15_crop", "flip", "blur1", "blur2", "noise5", "noise10", "screenshot"]:
        assert req in n
    fam = families()
    for f in ["brightness", "contrast", "saturation", "gamma", "combo"]:
        assert fam[f]
    assert any(len(get(c).params["steps"]) == 3 for c in fam["combo"])
    assert all(isinstance(a, Attack) for a in SUITE)


@pytest.mark.parametrize("name", [a.name for a in SUITE])
def test_each_attack_deterministic_and_recorded(name):
    out1, rec1 = apply(name, IMG, seed=7)
    out2, rec2 = apply(name, IMG, seed=7)
    assert out1.dtype == np.uint8 and out1.ndim == 3 and out1.shape[2] == 3
    assert np.array_equal(out1, out2) and rec1 == rec2
    assert rec1["name"] == name and rec1["out_shape"] == list(out1.shape)
    if name != "none":
        assert out1.shape != IMG.shape or not np.array_equal(out1, IMG)


def test_geometry():
    h, w = IMG.shape[:2]
    assert apply("resize0.5", IMG)[0].shape[:2] == (h // 2, w // 2)
    assert apply("resize0.5_up", IMG)[0].shape == IMG.shape
    assert apply("crop50", IMG)[0].shape[:2] == (h // 2, w // 2)
    assert np.array_equal(apply("flip", IMG)[0], IMG[:, ::-1])
    big = apply("rot15", IMG)[0]
    assert big.shape[0] > h and big.shape[1] > w
    small = apply("rot15_crop", IMG)[0]
    assert small.shape[0] < h and small.shape[1] < w and small.min(axis=2).mean() > 5  # no black corners


def test_seeded_random_choices():
    _, r1 = apply("crop50_off", IMG, seed=1)
    outs = {tuple(sorted(apply("crop50_off", IMG, seed=s)[1]["choices"].items())) for s in range(6)}
    assert "x0" in r1["choices"] and len(outs) > 1
    _, rs = apply("screenshot", IMG, seed=2)
    assert {"scale", "shift_x", "jpeg_quality"} <= set(rs["choices"])
    _, rc = apply("crop75_off+jpeg75", IMG, seed=2)
    assert any(k.startswith("step0") for k in rc["choices"])


def test_bad_input():
    with pytest.raises(ValueError):
        apply("jpeg75", IMG[..., 0])
    with pytest.raises(KeyError):
        apply("nope", IMG)


def test_copy_family_runs_through_the_suite_and_records_choices():
    from sleuth import attacks
    from sleuth.attacks.copy import FAMILIES

    rng_img = np.random.default_rng(0)
    img = rng_img.integers(0, 255, (96, 128, 3), dtype=np.uint8)
    bg = rng_img.integers(0, 255, (200, 240, 3), dtype=np.uint8)
    for fam in ("crop", "overlay-bg", "blur", "jpeg", "rotate", "flip", "combo"):
        assert fam in FAMILIES
        a, rec = attacks.apply(f"copy-{fam}", img, seed=4, backgrounds=[bg])
        b, _ = attacks.apply(f"copy-{fam}", img, seed=4, backgrounds=[bg])
        assert np.array_equal(a, b) and rec["name"] == f"copy-{fam}" and rec["choices"]
    out, rec = attacks.apply("copy-overlay-bg", img, seed=1, backgrounds=[bg])
    assert out.shape == bg.shape and rec["choices"]["background"] == 0
    with pytest.raises(ValueError, match="backgrounds"):
        attacks.apply("copy-overlay-bg", img, seed=1)
