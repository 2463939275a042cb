"""Format-2 detector pieces without model files: views, folds, the dual ridge probe, bands."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sleuth.detect import lofo, probe, reliability, views
from sleuth.detect.dataset import Item

from .conftest import natural_image


def test_protocols_and_crops_are_native_resolution():
    x = natural_image(400, 600, seed=1)
    for p in views.EVAL_PROTOCOLS:
        assert views.protocol(x, p).shape == (320, 320, 3)
    region = views.analysed(natural_image(700, 900, seed=2))
    assert region.shape == (512, 512, 3)  # centre region, no resizing: a fixed budget for any size
    c = views.crops(region, 2)
    assert c.shape == (2, 224, 224, 3)
    assert np.array_equal(c[0], region[:224, :224]) and np.array_equal(c[1], region[-224:, -224:])
    small = views.crops(natural_image(100, 150, seed=3), 2)  # padded by reflection, never resized
    assert small.shape[1:] == (224, 224, 3)
    assert np.array_equal(small[0][62:162, 37:187], natural_image(100, 150, seed=3))


def test_augmentation_is_seeded_and_covers_both_chroma_modes():
    x = natural_image(512, 512, seed=4)
    a, b = views.augment(x, "k:aug0"), views.augment(x, "k:aug0")
    assert np.array_equal(a, b)
    shapes = {views.augment(x, f"k{i}:aug0").shape for i in range(12)}
    assert all(h <= 320 and w <= 320 for h, w, _ in shapes)


def _items():
    out = []
    for i in range(40):
        out.append(Item(Path(f"r{i}.jpg"), 0, "imagenet" if i % 2 else "bsds500", None, dataset="x"))
    styles = list(lofo.STYLE_HALF)
    for fam in ("flux", "sdxl", "qwen"):
        for j, st in enumerate(styles):
            out.append(Item(Path(f"{fam}{j}.jpg"), 1, fam, fam, style=st, dataset="aigen_modern"))
    for j in range(6):
        out.append(Item(Path(f"g{j}.png"), 1, "biggan", "gan", dataset="aigen"))
    for i, it in enumerate(out):
        it._sha = f"{i:064x}"
    return out


def test_lofo_folds_hold_out_family_and_prompts():
    items = _items()
    folds = lofo.make_folds(items)
    tested = np.concatenate([f.test for f in folds])
    assert sorted(tested.tolist()) == list(range(len(items)))  # every item scored exactly once
    for f in folds:
        tr = [items[i] for i in f.train]
        assert all(it.family != f.family for it in tr if it.label == 1)
        test_styles = {items[i].style for i in f.test if items[i].label == 1}
        train_styles = {it.style for it in tr if it.label == 1 and it.style}
        assert not (test_styles & train_styles)  # the test prompts never appear in training
        assert not set(f.train) & set(f.test)


def test_dual_ridge_matches_its_primal_weights():
    rng = np.random.default_rng(0)
    n = 60
    y = np.r_[np.zeros(40, int), np.ones(20, int)]
    X = rng.normal(size=(n, 12, 2, 768)).astype(np.float32)
    X[y == 1, 5] += 0.3
    groups = {"mid": probe.GROUPS["mid"], "late": probe.GROUPS["late"]}
    K, cross, stats = probe.kernels(X, [X[:7]], groups)
    a = probe.solve(sum(K.values()), y, 3.0)
    dual = (sum(c[0] for c in cross.values()) + 1.0) @ a
    w, b = probe.primal(X, a, stats, {g: (blk, 1.0) for g, blk in groups.items()})
    assert np.allclose(probe.crop_logits(w, b, X[:7]), dual, atol=1e-3)
    assert np.all(w[list(probe.GROUPS["early"])] == 0)
    s = probe.crop_logits(w, b, X)
    assert s[y == 1].mean() > s[y == 0].mean()


@pytest.mark.parametrize("prob,flags,side,expect", [
    (0.9, [], 500, "likely-ai"), (0.9, ["small"], 200, "uncertain"), (0.5, [], 500, "uncertain"),
    (0.1, [], 500, "no-ai-signal"), (0.9, ["tiny"], 40, "not-enough-signal")])
def test_band_edges(prob, flags, side, expect):
    assert reliability.band(prob, 0.8, 0.3, {"flags": flags}, side) == expect
