"""Fuzz the loader and the fast analyzers with mutated files: never an exception, only clean
one-line error entries (hypothesis, small budget: about 10 s)."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sleuth import examples as ex
from sleuth.pipeline import scan

from .conftest import natural_image

FAST = ["c2pa", "generator-metadata", "exif", "known-watermark"]


def _seeds() -> list[bytes]:
    from sleuth.provenance.signing import make_test_chain

    rgb = natural_image(260, 300, seed=7)
    return [
        ex.c2pa_examples(rgb, make_test_chain())["ai"],
        ex.a1111_png(rgb),
        ex.novelai_stealth_png(rgb),
        ex.camera_jpeg(rgb),
        ex.jpeg_with_xmp(rgb, ex.xmp_packet("trainedAlgorithmicMedia")),
        ex.comfyui_png(rgb),
    ]


SEEDS = _seeds()


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "truncate", "insert", "zero"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] ^= draw(st.integers(1, 255))
        elif op == "truncate":
            data = data[: max(0, pos)]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        elif op == "zero":
            n = draw(st.integers(1, 256))
            data[pos:pos + n] = bytes(min(n, len(data) - pos))
    return bytes(data)


def _check(data: bytes) -> None:
    rep = scan(data, FAST, keep_maps=False)
    if rep.error:
        assert isinstance(rep.error, str) and "\n" not in rep.error and rep.evidence == []
        return
    names = [e.analyzer for e in rep.evidence]
    assert set(names) == set(FAST)
    for e in rep.evidence:
        assert e.error is None or (isinstance(e.error, str) and "\n" not in e.error)
        assert not e.summary.startswith("analyzer failed"), e.summary  # an uncaught crash, not a clean error
    rep.to_dict()  # serialisable


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_mutated_files_give_clean_errors(data):
    _check(data)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_random_bytes_give_clean_errors(data):
    _check(data)


@pytest.mark.parametrize("cut", [0, 1, 2, 10, 100, 1000])
def test_truncated_prefixes(cut):
    for s in SEEDS:
        _check(s[:cut])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_mutated_files_fast_tier_lazy_decode(data):
    """The fast tier decodes pixels on demand: a decode failure is the file's one-line error,
    never an analyzer crash, and the metadata evidence found before it is kept."""
    rep = scan(data, FAST, tier="fast", keep_maps=False)
    if rep.error:
        assert "\n" not in rep.error
    for e in rep.evidence:
        assert not e.summary.startswith("analyzer failed"), e.summary
    rep.to_dict()


_TEXT = st.text(alphabet=st.sampled_from(list('abc:, "\\\nStep0123456789<>/=[]{}')), max_size=400)


@settings(max_examples=200, deadline=None)
@given(_TEXT)
def test_text_parsers_never_raise_and_stay_bounded(text):
    from sleuth.provenance import generator, meta

    p = generator.parse_a1111(text)
    assert len(p["settings"]) <= generator.MAX_SETTINGS
    generator.parse_settings(text)
    doc = meta.parse_xmp("<x:xmpmeta xmlns:x='adobe:ns:meta/'>" + text)
    assert all(len(v) <= meta.MAX_XMP_VALUE for v in doc.values.values())
    meta.xmp_history(text + "History")
