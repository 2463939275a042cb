"""sleuth's payload decoder: equalisation of inter-chip interference before a second Chase decode."""
from __future__ import annotations

import numpy as np

from sleuth.attacks import gaussian_blur
from sleuth.watermark import ecc
from sleuth.watermark import sleuthmark as S
from sleuth.watermark.keys import parse_key

from .conftest import natural_image


def _true_soft_signs(mat, coded):
    return np.where(coded == 1, 1.0, -1.0)


def test_equaliser_undoes_a_known_interference_kernel():
    key = parse_key("payload equaliser test key")
    mat = S._material(key)
    payload = b"\x12\x34\x56\x78\x9a\xbc\xde\xf0"
    coded = ecc.encode(payload)
    signs = S._signs(mat, coded)
    g = signs.reshape(16, 16)
    # strong blur-like interference: each chip leaks 45 % into its 4 neighbours, minus a DC bias
    blurred = g + 0.45 * sum(np.roll(g, s, axis=a) for s in (-1, 1) for a in (0, 1))
    rng = np.random.default_rng(0)
    chips = blurred.ravel() + rng.normal(0, 0.35, 256)
    want = _true_soft_signs(mat, coded)
    plain_err = int(((S._payload_soft(chips, mat) > 0) != (want > 0)).sum())
    eq_err = int(((S._equalised_payload_soft(chips, mat) > 0) != (want > 0)).sum())
    assert eq_err < plain_err and eq_err <= 4, (plain_err, eq_err)
    assert ecc.decode_soft(S._equalised_payload_soft(chips, mat)).data == payload


def test_equaliser_keeps_clean_chips():
    key = parse_key("payload equaliser test key")
    mat = S._material(key)
    coded = ecc.encode(b"hello!!!")
    chips = S._signs(mat, coded) * 3.0
    soft = S._equalised_payload_soft(chips, mat)
    assert ((soft > 0) == (coded == 1)).all()


def test_blurred_mark_reads_back_and_says_how():
    rgb = natural_image(512, 512, seed=11)
    payload = b"blur2ok!"
    marked = S.embed(rgb, "payload blur key", payload)
    d = S.detect(gaussian_blur(marked, 2.0), "payload blur key", fpr=1e-3)
    assert d.detected and d.message == payload
    assert d.details["payload_decoded_by"] == "equalised"  # the plain Chase decode fails on this blur
    clean = S.detect(marked, "payload blur key", fpr=1e-3)
    assert clean.details["payload_decoded_by"] == "plain" and clean.message == payload
