"""Forensic analyzers: each finds a tampering it is designed for (made here) and stays quiet
on a pristine photo (made here); skips and "not enough signal" are stated, never verdicts."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from sleuth.forensics import copymove, ela, jpeg, noise, resampling, scaling, synth
from sleuth.forensics.common import NotEnoughSignal, upsample
from sleuth.forensics.evidence import analyze_image, fused_evidence, to_evidence
from sleuth.imageio import load_image

from .conftest import encode, natural_image


def textured_image(h, w, seed):
    """natural_image with stronger fine texture, so that keypoints exist (as on real photos)."""
    import cv2

    rng = np.random.default_rng(seed)
    tex = cv2.GaussianBlur(rng.normal(0, 40, (h, w)).astype(np.float32), (0, 0), 1.5)
    return np.clip(natural_image(h, w, seed=seed).astype(np.float32) + tex[..., None], 0, 255).astype(np.uint8)


def _jpeg_pixels(rgb, q):
    return np.asarray(Image.open(io.BytesIO(encode(rgb, "JPEG", quality=q))).convert("RGB"))


@pytest.fixture(scope="module")
def host():
    """A photo-like image with a JPEG history (quality 70), as most images online have."""
    return _jpeg_pixels(textured_image(384, 512, seed=3), 70)


@pytest.fixture(scope="module")
def donor():
    return textured_image(384, 512, seed=11)


def _inside_outside(mask, heat):
    h = upsample(heat, *mask.shape)
    return float(h[mask].mean()), float(h[~mask].mean())


@pytest.fixture(scope="module")
def spliced(host, donor):
    b, m = synth.splice(host, donor, np.random.default_rng(5), donor_quality=None, out_quality=90)
    return load_image(b), m


@pytest.fixture(scope="module")
def pristine_jpeg(host):
    b, _ = synth.pristine(host, np.random.default_rng(0), out_quality=90)
    return load_image(b)


def test_jpeg_dq_localises_splice_and_is_quiet_on_pristine(spliced, pristine_jpeg):
    img, m = spliced
    r = jpeg.double_quantisation(img)
    assert r.details["double_compressed"]
    inside, outside = _inside_outside(m, r.heat)
    assert inside > 0.5 and outside < 0.2
    p = jpeg.double_quantisation(pristine_jpeg)
    assert p.score < r.score - 0.3


def test_jpeg_ghost_localises_splice(spliced, pristine_jpeg):
    img, m = spliced
    r = jpeg.ghost(img)
    inside, outside = _inside_outside(m, r.heat)
    assert inside > outside + 0.15 and outside < 0.05
    quiet = jpeg.ghost(pristine_jpeg)
    q = float(upsample(quiet.heat, *m.shape).mean())
    assert q < 0.1 and q < inside / 4  # the pristine map stays dark next to the splice


def test_ela_localises_splice(spliced, pristine_jpeg):
    img, m = spliced
    r = ela.analyze(img.rgb)
    inside, outside = _inside_outside(m, r.heat)
    assert inside > 2 * outside + 0.05
    quiet = ela.analyze(pristine_jpeg.rgb)
    q = float(upsample(quiet.heat, *m.shape).mean())
    assert q < 0.1 and q < inside / 2


def test_noise_finds_noisier_paste():
    rng = np.random.default_rng(1)
    img = natural_image(384, 512, seed=4).astype(np.float32)
    m = np.zeros(img.shape[:2], bool)
    m[100:228, 200:360] = True
    noisy = img + rng.normal(0, 10, img.shape) * m[..., None]
    tampered = np.clip(noisy, 0, 255).astype(np.uint8)
    r = noise.analyze(tampered)
    inside, outside = _inside_outside(m, r.heat)
    assert inside > 0.5 and outside < 0.15
    assert noise.analyze(img.astype(np.uint8)).score < r.score - 2


def test_copy_move_finds_rotated_scaled_clone_and_not_pristine():
    rgb = textured_image(384, 512, seed=7)
    b, m = synth.copy_move(rgb, np.random.default_rng(2), angle=12, scale=1.15, out_quality=92)
    img = load_image(b)
    r = copymove.analyze(img.rgb)
    assert r.score >= copymove.MIN_INLIERS
    t = r.details["transforms"][0]
    assert abs(abs(t["rotation_deg"]) - 12) < 3 and abs(t["scale"] - 1.15) < 0.08 or abs(t["scale"] - 1 / 1.15) < 0.08
    inside, outside = _inside_outside(m, r.heat)
    assert inside > 0.3 and outside < 0.05
    assert copymove.analyze(_jpeg_pixels(rgb, 92)).score == 0


def test_copy_move_block_fallback_on_translation():
    rgb = natural_image(256, 320, seed=9)
    out = rgb.copy()
    out[150:214, 200:280] = rgb[20:84, 30:110]
    heat, votes = copymove.block_clones(out.astype(np.float32).mean(axis=2))
    assert votes >= 40
    assert heat[150:214, 200:280].mean() > 0.5 and heat[20:84, 30:110].mean() > 0.5
    assert heat[250:, :].mean() == 0


def test_resampling_finds_upsampled_paste():
    rgb = natural_image(512, 512, seed=12)
    big = np.asarray(Image.fromarray(natural_image(400, 400, seed=13)).resize((640, 640), Image.Resampling.BICUBIC))
    out = rgb.copy()
    out[128:384, 128:384] = big[100:356, 100:356]
    r = resampling.analyze(out)
    m = np.zeros(out.shape[:2], bool)
    m[128:384, 128:384] = True
    inside, outside = _inside_outside(m, r.heat)
    assert inside > outside + 0.2
    assert resampling.analyze(rgb).score < r.score


def test_scaling_attack_detected_and_clean_quiet():
    from sleuth.attacks.scaling import downscale, scaling_attack

    src = np.asarray(Image.fromarray(natural_image(384, 384, seed=21)).resize((512, 512), Image.Resampling.BICUBIC))
    tgt = natural_image(128, 128, seed=22)
    for method in ("nearest", "bilinear", "bicubic"):
        att = scaling_attack(src, tgt, method)
        assert np.abs(downscale(att, (128, 128), method).astype(float) - tgt).mean() < 6
        r = scaling.analyze(att)
        assert r.details["detected"], (method, r.details)
    assert not scaling.analyze(src).details["detected"]


def test_non_jpeg_skips_jpeg_only_with_reason(tmp_path):
    p = tmp_path / "x.png"
    p.write_bytes(encode(natural_image(256, 256), "PNG"))
    rs = analyze_image(load_image(p))
    for n in ("jpeg-ghost", "jpeg-dq"):
        assert rs[n].status == "skipped" and "not a JPEG" in rs[n].reason
        assert to_evidence(rs[n], load_image(p)).verdict == "skipped"
    assert rs["ela"].status == "ok" and rs["noise"].status == "ok"


@pytest.mark.parametrize("arr", [natural_image(40, 40), np.full((300, 300, 3), 127, np.uint8)], ids=["tiny", "flat"])
def test_tiny_or_flat_gives_not_enough_signal(arr):
    img = load_image(encode(arr, "PNG"))
    rs = analyze_image(img)
    assert all(r.status == "not-enough-signal" for n, r in rs.items() if n not in ("jpeg-ghost", "jpeg-dq"))
    ev = fused_evidence(img)
    assert ev.verdict == "not-enough-signal" and ev.score is None
    with pytest.raises(NotEnoughSignal):
        ela.analyze(arr)


def test_tiling_does_not_change_block_features():
    from sleuth.forensics.common import tiled_features

    rgb = natural_image(320, 448, seed=5)
    a = tiled_features(rgb, 32, noise._features, tile=4096)
    b = tiled_features(rgb, 32, noise._features, tile=128)
    assert a.shape == b.shape
    # wavelets see tile borders: allow small differences at block level, same median
    assert np.median(np.abs(a[..., 0] - b[..., 0])) < 0.15 * np.median(a[..., 0])


def test_pristine_photo_gives_no_evidence(pristine_jpeg):
    ev = fused_evidence(pristine_jpeg)
    assert ev.verdict == "no-evidence", ev.details
    assert ev.maps["fused"].shape == (pristine_jpeg.height, pristine_jpeg.width)
    assert ev.maps["fused"].max() < 0.5


@pytest.fixture(scope="module")
def cloned():
    b, m = synth.copy_move(textured_image(384, 512, seed=7), np.random.default_rng(2), angle=12, scale=1.15, out_quality=92)
    return load_image(b), m


def test_fused_flags_clone_and_localises_it(cloned):
    # at the calibrated operating point (about 1% false alarms per analyzer on pristine photos)
    # the JPEG analyzers localise this synthetic splice but do not reach p >= 0.5; a clone does
    img, m = cloned
    ev = fused_evidence(img)
    assert ev.verdict == "manipulated" and ev.score >= 0.5
    inside, outside = _inside_outside(m, ev.maps["fused"])
    assert inside > outside + 0.3


def test_cli_json_maps_and_errors(tmp_path, cloned):
    from typer.testing import CliRunner

    from sleuth.cli import app

    img, _ = cloned
    good = tmp_path / "cloned.jpg"
    good.write_bytes(img.data)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really")
    out = tmp_path / "maps"
    res = CliRunner().invoke(app, ["forensics", str(good), str(bad), "--out", str(out), "--format", "json"])
    assert res.exit_code == 1
    rows = json.loads(res.stdout)
    assert [r["path"] for r in rows] == [str(good), str(bad)]
    ok, broken = rows
    assert broken["error"] and "broken.jpg" in broken["error"] and broken["maps"] == {}
    assert ok["error"] is None and ok["score"] >= 0.5
    assert {"fused", "ela", "noise", "jpeg-dq", "jpeg-ghost", "copy-move", "resampling"} <= set(ok["maps"])
    assert set(ok["scaling_attack"]) == {"detected", "score"} and ok["scaling_attack"]["detected"] is False
    for p in ok["maps"].values():
        with Image.open(p) as im:
            assert im.size == (img.width, img.height) and im.mode == "L"


def test_scan_has_manipulation_item_with_heatmap_files(tmp_path, pristine_jpeg):
    import sleuth

    p = tmp_path / "p.jpg"
    p.write_bytes(pristine_jpeg.data)
    rep = sleuth.scan(str(p), analyzers=["manipulation", "ela"], options={"maps_dir": str(tmp_path / "m")})
    ev = rep.get("manipulation")
    assert ev is not None and ev.kind == "manipulation" and 0 <= ev.score <= 1
    assert set(ev.details["maps"]) == {"fused"}
    assert rep.get("ela").details["maps"]["heatmap"].endswith(".png")


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orient_map_matches_exif_transpose(orientation):
    from PIL import Image as PILImage

    a = np.arange(6 * 10, dtype=np.uint8).reshape(6, 10)
    ops = {2: PILImage.Transpose.FLIP_LEFT_RIGHT, 3: PILImage.Transpose.ROTATE_180, 4: PILImage.Transpose.FLIP_TOP_BOTTOM,
           5: PILImage.Transpose.TRANSPOSE, 6: PILImage.Transpose.ROTATE_270, 7: PILImage.Transpose.TRANSVERSE,
           8: PILImage.Transpose.ROTATE_90}
    im = PILImage.fromarray(a)
    expected = np.asarray(im.transpose(ops[orientation])) if orientation in ops else a
    assert np.array_equal(jpeg.orient_map(a, orientation), expected)
