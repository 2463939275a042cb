"""Dense-field copy-move: finds a translated clone, stays quiet on the untouched image, opt-in."""
from __future__ import annotations

import numpy as np

from sleuth.forensics import densecm, synth
from sleuth.forensics.common import upsample
from sleuth.imageio import load_image

from .test_forensics import _jpeg_pixels, textured_image


def test_dense_field_finds_translated_clone_and_not_pristine():
    rgb = textured_image(384, 512, seed=3)
    b, m = synth.copy_move(rgb, np.random.default_rng(2), angle=0.0, scale=1.0, out_quality=92)
    r = densecm.analyze(load_image(b).rgb)
    h = upsample(r.heat, *m.shape)
    assert r.score > 1.0 and h[m].mean() > 0.3 and h[~m].mean() < 0.02
    assert r.details["regions"] and r.details["regions"][0]["median_ncc"] >= densecm.NCC_MIN
    assert densecm.analyze(_jpeg_pixels(rgb, 92)).score == 0


def test_dense_linear_fitting_is_zero_on_an_affine_field():
    yy, xx = np.mgrid[0:40, 0:50].astype(np.float32)
    err = densecm.dlf_error(0.1 * xx + 3, -0.2 * yy + 0.05 * xx)
    assert float(err[5:-5, 5:-5].max()) < 1e-3
    noisy = densecm.dlf_error(np.random.default_rng(0).normal(0, 3, (40, 50)).astype(np.float32), np.zeros((40, 50), np.float32))
    assert float(np.median(noisy)) > 1.0


def test_dense_copy_move_is_opt_in():
    import sleuth

    rgb = textured_image(256, 320, seed=5)
    b, _ = synth.pristine(rgb, np.random.default_rng(0), 90)
    rep = sleuth.scan(b, analyzers=["dense-copy-move"])
    assert rep.get("dense-copy-move") is None
    rep = sleuth.scan(b, analyzers=["dense-copy-move"], options={"dense_copy_move_enabled": True})
    ev = rep.get("dense-copy-move")
    assert ev is not None and ev.kind == "manipulation" and ev.details["raw_score"] == 0
