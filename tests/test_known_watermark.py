"""Known invisible watermarks: SD v1/v2 and SDXL embedded with invisible-watermark's own encoder."""
from __future__ import annotations

import numpy as np
import pytest

from sleuth import examples as ex
from sleuth.pipeline import scan
from sleuth.watermark.known import SD_BITS, SDXL_BITS, binom_pvalue, block_scores, check_marks, decode_bits, min_matches
from sleuth.watermark.methods import MethodUnavailable, reference_dwtdct

from .conftest import encode, natural_image

pytest.importorskip("pywt")
try:
    REF = reference_dwtdct()
except MethodUnavailable:  # pragma: no cover - invisible-watermark is installed by the Makefile
    REF = None
needs_ref = pytest.mark.skipif(REF is None, reason="invisible-watermark not installed")


def kw(data: bytes, **options):
    rep = scan(data, ["known-watermark"], options=options, keep_maps=False)
    assert rep.error is None
    return rep.get("known-watermark")


@needs_ref
@pytest.mark.parametrize("seed", [0, 1])
def test_vectorised_decoder_matches_the_reference_bit_for_bit(seed):
    rgb = natural_image(300, 420, seed=seed)
    marked = ex.embed_known_mark(rgb, "sdxl")
    for img in (rgb, marked):
        bgr = np.ascontiguousarray(img[:, :, ::-1])
        for n in (136, 48):
            ref = REF(watermarks=[], wmLen=n).decode(bgr).astype(np.uint8)
            assert np.array_equal(decode_bits(block_scores(img), n), ref)


@needs_ref
def test_sd_and_sdxl_marks_are_found_and_not_confused():
    sd = ex.embed_known_mark(ex.photo_like(512, 640, seed=16), "stable-diffusion")
    xl = ex.embed_known_mark(ex.photo_like(768, 768, seed=16), "sdxl")
    ev = kw(encode(sd, "PNG"))
    assert ev.verdict == "stable-diffusion" and ev.strength == "strong"
    assert ev.details["stable-diffusion"]["matched_bits"] >= 130 and ev.p_value < 1e-20
    assert ev.details["sdxl"]["detected"] is False
    ev = kw(encode(xl, "PNG"))
    assert ev.verdict == "sdxl" and ev.details["sdxl"]["matched_bits"] == 48
    assert ev.details["stable-diffusion"]["detected"] is False


@needs_ref
def test_marks_survive_on_most_contents():
    # the reference encoder is content-dependent; over 8 contents most must still decode
    hits = sum(check_marks(ex.embed_known_mark(ex.photo_like(512, 512, seed=s), "sdxl"))["sdxl"]["detected"] for s in range(8))
    assert hits >= 5


def test_unmarked_photos_are_not_flagged():
    for seed in range(6):
        for data in (encode(natural_image(512, 512, seed=seed), "PNG"), encode(natural_image(600, 800, seed=seed), "JPEG", quality=85)):
            ev = kw(data)
            assert ev.verdict == "no-evidence", ev.summary
            assert ev.p_value > 1e-6
    flat = np.full((512, 512, 3), 128, np.uint8)  # degenerate content decodes all-zero bits
    assert kw(encode(flat, "PNG")).verdict == "no-evidence"


def test_pvalue_and_fpr_option():
    assert binom_pvalue(136, 136) == pytest.approx(2.0 ** -136)
    assert binom_pvalue(0, 48) == 1.0
    from scipy.stats import binom

    for k, n in ((96, 136), (41, 48), (30, 48)):
        assert binom_pvalue(k, n) == pytest.approx(binom.sf(k - 1, n, 0.5), rel=1e-9)
    assert (min_matches(136, 1e-6), min_matches(48, 1e-6)) == (96, 41)
    rgb = natural_image(512, 512, seed=3)
    ev = kw(encode(rgb, "PNG"), fpr=1.0)  # an FPR of 1 accepts anything: the decision follows the option
    assert ev.verdict in ("stable-diffusion", "sdxl") and ev.details["fpr"] == 1.0


def test_small_images_and_trustmark_are_reported_not_silently_passed():
    ev = kw(encode(natural_image(128, 128), "PNG"))
    assert ev.verdict == "no-evidence" and "256x256" in ev.details["checked"]["sdxl"]
    assert ev.details["checked"]["trustmark"].startswith("not checked: weights not available") or \
        ev.details["checked"]["trustmark"] in ("detected", "not detected")
    assert "TrustMark" in ev.summary or "trustmark" in ev.details


def test_message_constants():
    assert bytes(np.packbits(SD_BITS)) == b"StableDiffusionV1"
    assert int("".join(map(str, SDXL_BITS)), 2) == 0b101100111110110010010000011110111011000110011110


# ----------------------------------------------------------------------------- soft detector

from sleuth.watermark import known as K  # noqa: E402


def _skimage_photo(name: str) -> np.ndarray:
    data = pytest.importorskip("skimage.data")
    return np.ascontiguousarray(getattr(data, name)()[:, :, :3])


@needs_ref
@pytest.mark.parametrize("geometry", list(K.GEOMETRIES))
def test_soft_detector_finds_sdxl_marks_of_every_pipeline_geometry(geometry):
    for rgb in (_skimage_photo("astronaut"), ex.photo_like(384, 512, seed=5)):
        marked = K.reference_embed(rgb, "sdxl", geometry)
        r = K.check_marks(marked)["sdxl"]
        assert r["detected"] and r["p_soft"] < 1e-20, r
        assert r["geometry"].split("/")[0] in K.MARK_GEOMETRIES["sdxl"]
        assert not K.check_marks(rgb)["sdxl"]["detected"]


@needs_ref
def test_soft_detector_finds_what_the_reference_decoder_misses():
    # diffusers hands float RGB to the encoder as if it were BGR: the reference decoder reads noise
    rgb = _skimage_photo("astronaut")
    r = K.check_marks(K.reference_embed(rgb, "sdxl", "float-rgb"))["sdxl"]
    assert r["p_hard"] > 1e-3 and r["detected"] and r["geometry"].startswith("float-rgb")
    ev = kw(encode(K.reference_embed(rgb, "sdxl", "float-rgb"), "PNG"))
    assert ev.verdict == "sdxl" and "float-rgb" in ev.summary


@needs_ref
def test_soft_detector_after_jpeg90_on_a_large_photo():
    rgb = _skimage_photo("coffee")
    from sleuth.attacks import encode_decode

    marked = encode_decode(K.reference_embed(rgb, "sdxl", "uint8-bgr"), "JPEG", 90)
    r = K.check_marks(marked)["sdxl"]
    assert r["p_hard"] > 1e-6  # the reference decoder loses it ...
    assert r["p_soft"] < 1e-6 and r["geometry"].endswith("/unsmear")  # ... the chroma-unsmeared soft read keeps it


def test_soft_z_is_a_valid_test_under_independent_null_scores():
    # uniform phases (what an unmarked block gives) with tile structure: the p-values are uniform
    rng = np.random.default_rng(0)
    n = 64 * 64
    bi, bj = np.divmod(np.arange(n), 64)
    tile = (bi // K.TILE) * (64 // K.TILE) + bj // K.TILE
    ps = []
    for _ in range(3000):
        score = -np.sin(rng.uniform(0, 2 * np.pi, n)) + 0.3  # a content-dependent offset must cancel
        z, g = K.soft_z(score, np.ones(n), tile, K.SDXL_BITS)
        ps.append(K._t_upper(z, g - 1))
    ps = np.array(ps)
    assert np.mean(ps <= 0.01) <= 0.016 and np.mean(ps <= 0.1) == pytest.approx(0.1, abs=0.025)


def test_soft_z_ignores_flat_tiles_and_counts_effective_tiles():
    n = 64 * 64
    bi, bj = np.divmod(np.arange(n), 64)
    tile = (bi // K.TILE) * (64 // K.TILE) + bj // K.TILE
    score = np.full(n, 0.7)  # flat content: every block reads the same value
    assert K.soft_z(score, np.ones(n), tile, K.SDXL_BITS)[0] == 0.0
    rng = np.random.default_rng(1)
    score[tile < 4] = rng.uniform(-1, 1, int((tile < 4).sum()))  # only 4 tiles carry anything
    z, g_eff = K.soft_z(score, np.ones(n), tile, K.SDXL_BITS)
    assert g_eff <= 4


def test_clipped_blocks_are_down_weighted():
    rgb = np.full((256, 256, 3), 120, np.uint8)
    rgb[:8, :8] = 255  # the first LL block's patches are saturated
    _, weight, _ = K._block_phase(K._haar_ll(K._u_plane(rgb, "bgr")), K._clipped_ll(rgb))
    assert weight[0] == K.CLIPPED_WEIGHT and (weight[1:] == 1.0).all()


def test_calibration_file_records_its_provenance():
    import json

    cal = json.loads(K.CALIBRATION_FILE.read_text())
    for f in ("command", "manifest_sha256", "date", "n", "variance"):
        assert f in cal
    assert cal["n"] >= 1000
    for mark, keys in K.MARK_GEOMETRIES.items():
        for g in keys:
            for read in K.READS:
                assert 0.5 < cal["variance"][mark][f"{g}/{read}"] < 2.0


def test_unmarked_skimage_photos_are_not_flagged():
    for name in ("astronaut", "coffee", "rocket", "chelsea"):
        res = K.check_marks(_skimage_photo(name))
        assert all(r["p_value"] > 1e-6 for r in res.values()), (name, res)
