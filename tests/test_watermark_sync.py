"""sleuth's mark: the coherent geometric search, aspect-ratio changes, the 128-bit layout."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from sleuth.attacks import apply
from sleuth.cli import app
from sleuth.errors import UsageError
from sleuth.watermark import ecc, sleuthmark
from sleuth.watermark.api import psnr
from sleuth.watermark.keys import parse_key

from .conftest import encode, natural_image

KEY = "sync search test key"
runner = CliRunner()


@pytest.fixture(scope="module")
def photo():
    return natural_image(336, 480, seed=41)


@pytest.fixture(scope="module")
def marked(photo):
    return sleuthmark.embed(photo, KEY, b"geometry")


def test_coherent_score_peaks_at_the_true_geometry(marked):
    """The coherent lattice score of a rotated, cropped mark is highest at the attack's geometry,
    far above its level on an unmarked image."""
    out, _ = apply("rot-5_crop", marked, seed=1)
    mat = sleuthmark._material(parse_key(KEY))
    spec = sleuthmark._complex_spectrum(sleuthmark._canonical_whitened(out))
    grid = sleuthmark._coherent_grid(spec, mat.sync_spec[:1], sleuthmark.ANGLES, sleuthmark.SCALES)
    si, ai = np.unravel_index(np.argmax(grid), grid.shape)
    true_scale = min(marked.shape[:2]) / min(out.shape[:2])
    assert abs(sleuthmark.ANGLES[ai] - 5) <= 1 and abs(np.log(sleuthmark.SCALES[si] / true_scale)) < 0.03
    other = sleuthmark._material(parse_key("an unrelated key"))
    null = sleuthmark._coherent_grid(spec, other.sync_spec[:1], sleuthmark.ANGLES, sleuthmark.SCALES)
    assert grid.max() > null.max() + 2


@pytest.mark.parametrize("attack", ["rot-5_crop", "crop90_off", "aspect0.9", "aspect1.2", "perspective3",
                                    "screenshot_border"])
def test_geometric_attacks_are_found_by_the_search(marked, attack):
    out, _ = apply(attack, marked, seed=2)
    d = sleuthmark.detect(out, KEY, fpr=1e-3)
    assert d.detected and d.message == b"geometry", (attack, d.p_value, d.details)


def test_aspect_change_reports_the_stretch(marked):
    out, _ = apply("aspect0.9", marked, seed=0)
    d = sleuthmark.detect(out, KEY)
    assert d.details["sync"] == "search" and abs(d.aspect - 0.9) < 0.02


def test_clean_image_decides_at_identity_without_a_search(marked):
    d = sleuthmark.detect(marked, KEY)
    assert d.detected and d.details["sync"] == "identity" and d.details["candidates"] == 1


def test_search_bonferroni_count_covers_every_ranked_geometry():
    s = sleuthmark
    n_geoms = (len(s.ANGLES) * len(s.SCALES) + s.N_CANDIDATES * len(s.REFINE_ANGLES) * len(s.REFINE_SCALES)
               + len(s.ASPECTS) * len(s.ASPECT_SCALES) + s.N_ASPECT * len(s.REFINE_ASPECTS) * len(s.REFINE_SCALES))
    assert s.search_tests() == n_geoms * 2 * s.T * s.T


def test_unmarked_search_p_values_are_not_small():
    ps = []
    for seed in range(6):
        img = natural_image(280, 360, seed=900 + seed)
        for bits in (64, 128):
            d = sleuthmark.detect(img, f"null key {seed}", bits=bits)
            assert d.message is None
            ps.append(d.p_value)
    assert min(ps) > 1e-3


# ----------------------------------------------------------------------------- 128-bit layout

def test_bch_128_bit_payload_corrects_eight_errors():
    data = bytes(range(100, 116))
    coded = ecc.encode(data)
    assert coded.size == 192
    rng = np.random.default_rng(3)
    bad = coded.copy()
    bad[rng.choice(192, 8, replace=False)] ^= 1
    dec = ecc.decode(bad, data_bytes=16)
    assert dec.ok and dec.data == data and dec.corrected == 8


def test_128_bit_roundtrip_and_layouts_do_not_cross(photo):
    payload = b"a 16-byte id!!!!"
    m128 = sleuthmark.embed(photo, KEY, payload)
    assert 40.0 <= psnr(photo, m128) <= 42.5
    d = sleuthmark.detect(m128, KEY, bits=128)
    assert d.detected and d.message == payload and d.bits.size == 128
    out, _ = apply("crop75_off+jpeg75", m128, seed=4)
    assert sleuthmark.detect(out, KEY, fpr=1e-3, bits=128).detected
    assert not sleuthmark.detect(m128, KEY, bits=64).detected  # each layout has its own key derivation
    with pytest.raises(UsageError):
        sleuthmark.embed(photo, KEY, b"12345")
    with pytest.raises(UsageError):
        sleuthmark.detect(photo, KEY, bits=100)


def test_cli_bits_128(tmp_path):
    (tmp_path / "p.png").write_bytes(encode(natural_image(300, 400, 7), "PNG"))
    out = tmp_path / "out"
    res = runner.invoke(app, ["mark", str(tmp_path / "p.png"), "--out", str(out), "--key", KEY, "--bits", "128",
                              "--message", "sixteen byte msg"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["verify", str(out / "p.png"), "--key", KEY, "--bits", "128", "--format", "json"])
    assert res.exit_code == 0, res.output
    row = json.loads(res.stdout)[0]
    assert row["detected"] and row["message"] == "sixteen byte msg"
    res = runner.invoke(app, ["mark", str(tmp_path / "p.png"), "--out", str(out), "--key", KEY, "--message", "seventeen bytes!!"])
    assert res.exit_code == 2 and "8 bytes" in res.output
    res = runner.invoke(app, ["verify", str(out / "p.png"), "--key", KEY, "--bits", "96"])
    assert res.exit_code == 2 and "--bits" in res.output
