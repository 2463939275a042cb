"""sleuth's watermark: keys, ECC, embedding/detection, false positives, bad input, CLI, scan."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from typer.testing import CliRunner

import sleuth
from sleuth.attacks import apply
from sleuth.cli import app
from sleuth.errors import UsageError
from sleuth.watermark import ecc, sleuthmark
from sleuth.watermark.api import psnr
from sleuth.watermark.keys import hkdf, parse_key

from .conftest import encode, natural_image

KEY = "correct horse battery staple"
runner = CliRunner()


@pytest.fixture(scope="module")
def photo():
    return natural_image(320, 448, seed=21)


@pytest.fixture(scope="module")
def marked(photo):
    return sleuthmark.embed(photo, KEY, b"sleuth42")


# ----------------------------------------------------------------------------- keys

def test_key_forms():
    assert parse_key("eight ch").kind == "passphrase"
    assert parse_key("hex:" + "ab" * 16).kind == "hex"
    assert parse_key("0123456789abcdef" * 2).kind == "hex"
    for bad in ["short", "", "       ", "hex:abc", "hex:" + "zz" * 16, "hex:" + "ab" * 8]:
        with pytest.raises(UsageError):
            parse_key(bad)
    k = parse_key("a secret passphrase")
    assert "secret" not in repr(k) and "secret" not in str(k)
    # distinct keys and labels give distinct material; the same key is stable
    assert parse_key("a secret passphrase").derive("x") == k.derive("x") != k.derive("y")
    assert parse_key("another passphrase").derive("x") != k.derive("x")


def test_hkdf_rfc5869_vector():
    ikm = bytes.fromhex("0b" * 22)
    okm = hkdf(ikm, bytes.fromhex("f0f1f2f3f4f5f6f7f8f9"), 42, salt=bytes.fromhex("000102030405060708090a0b0c"))
    assert okm.hex() == ("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                         "34007208d5b887185865")


# ----------------------------------------------------------------------------- ECC

def test_bch_corrects_up_to_t_and_chase_beyond():
    rng = np.random.default_rng(0)
    data = b"\x01\x02payload"[:8]
    code = ecc.encode(data)
    assert code.size == ecc.CODED_BITS
    for n in (0, 3, ecc.T_CORRECT):
        bad = code.copy()
        bad[rng.choice(code.size, n, replace=False)] ^= 1
        d = ecc.decode(bad)
        assert d.ok and d.data == data and d.corrected == n
    bad = code.copy()
    idx = rng.choice(code.size, ecc.T_CORRECT + 2, replace=False)
    bad[idx] ^= 1
    assert not ecc.decode(bad).ok
    soft = (bad.astype(float) * 2 - 1) * 3.0
    soft[idx[:4]] *= 0.05  # the decoder knows which bits are unreliable
    d = ecc.decode_soft(soft)
    assert d.ok and d.data == data


def test_message_forms():
    assert ecc.message_to_bytes("hi") == b"hi\0\0\0\0\0\0"
    assert ecc.message_to_bytes(hex_="0xdeadbeef") == bytes.fromhex("deadbeef") + bytes(4)
    assert ecc.bytes_to_message(b"hi\0\0\0\0\0\0") == "hi"
    assert ecc.bytes_to_message(b"\xff\x00" * 4).startswith("hex:")
    for kw in ({"message": "nine bytes"}, {"hex_": "00" * 9}, {"hex_": "xyz"}, {"message": "a", "hex_": "00"}):
        with pytest.raises(UsageError):
            ecc.message_to_bytes(**kw)


# ----------------------------------------------------------------------------- scheme

def test_embed_quality_and_roundtrip(photo, marked):
    assert marked.shape == photo.shape and marked.dtype == np.uint8
    assert 40.0 <= psnr(photo, marked) <= 42.5
    d = sleuthmark.detect(marked, KEY)
    assert d.detected and d.p_value < 1e-20 and d.message == b"sleuth42" and d.ecc_ok


def test_strength_changes_psnr(photo):
    weak = sleuthmark.embed(photo, KEY, bytes(8), strength=0.5)
    assert psnr(photo, weak) > 45


@pytest.mark.parametrize("attack", ["jpeg50", "resize0.5", "crop50_off", "rot-15", "rot5_crop", "flip", "screenshot",
                                    "crop75_off+jpeg75"])
def test_survives_attacks(marked, attack):
    out, _ = apply(attack, marked, seed=3)
    d = sleuthmark.detect(out, KEY)
    assert d.detected and d.p_value < 1e-9, (attack, d.p_value)


def test_wrong_key_and_unmarked_not_detected(photo, marked):
    d = sleuthmark.detect(marked, "some other passphrase")
    assert not d.detected and d.message is None and d.p_value > 1e-3
    d = sleuthmark.detect(photo, KEY)
    assert not d.detected and d.message is None


def test_false_positive_control_on_unmarked():
    """p-values on unmarked images and their variants are not small (Bonferroni-corrected,
    so P(p <= a) <= a): no image reaches 1e-3 and few reach 0.05."""
    ps = []
    for seed in range(12):
        img = natural_image(260 + 13 * seed, 300 + 17 * seed, seed=500 + seed)
        for atk in ("none", "crop50", "rot5"):
            out, _ = apply(atk, img, seed=seed)
            d = sleuthmark.detect(out, f"unmarked key {seed}")
            assert d.message is None
            ps.append(d.p_value)
    ps = np.array(ps)
    assert ps.min() > 1e-3
    assert (ps < 0.05).mean() <= 0.15


def test_bad_input_sizes():
    with pytest.raises(UsageError, match="too small"):
        sleuthmark.embed(natural_image(200, 400, 1), KEY, bytes(8))
    with pytest.raises(UsageError, match="too small"):
        sleuthmark.detect(natural_image(40, 40, 1), KEY)
    with pytest.raises(UsageError):
        sleuthmark.embed(natural_image(256, 256, 1), KEY, bytes(8), strength=100)


# ----------------------------------------------------------------------------- files and CLI

def _rgba_png_with_text(path):
    rgb = natural_image(300, 340, seed=7)
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:40] = 0
    info = PngInfo()
    info.add_text("Comment", "made by a test")
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(path, "PNG", pnginfo=info)
    return alpha


def _jpeg_with_exif(path):
    im = Image.fromarray(natural_image(300, 400, seed=8))
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0112] = 1
    im.save(path, "JPEG", quality=92, exif=exif.tobytes())


def test_cli_mark_verify_roundtrip_keeps_alpha_metadata(tmp_path):
    alpha = _rgba_png_with_text(tmp_path / "a.png")
    _jpeg_with_exif(tmp_path / "b.jpg")
    out = tmp_path / "out"
    res = runner.invoke(app, ["mark", str(tmp_path / "a.png"), str(tmp_path / "b.jpg"), "--out", str(out),
                              "--key", KEY, "--message", "hello"])
    assert res.exit_code == 0, res.output
    assert "PSNR" in res.stdout and KEY not in res.output
    a = Image.open(out / "a.png")
    assert a.mode == "RGBA" and np.array_equal(np.asarray(a)[..., 3], alpha) and a.text.get("Comment") == "made by a test"
    b = Image.open(out / "b.jpg")
    assert b.getexif().get(0x010F) == "TestCam"
    for f in (out / "a.png", out / "b.jpg"):
        assert KEY.encode() not in f.read_bytes()
    res = runner.invoke(app, ["verify", str(out / "a.png"), str(out / "b.jpg"), str(tmp_path / "b.jpg"),
                              "--key", KEY, "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [r["detected"] for r in rows] == [True, True, False]
    assert rows[0]["message"] == rows[1]["message"] == "hello" and rows[2]["message"] is None
    for r in rows:
        assert {"path", "error", "detected", "p_value", "message", "method"} <= set(r)
    assert rows[2]["p_value"] > 1e-3 and KEY not in res.stdout


def test_cli_bad_input(tmp_path):
    (tmp_path / "small.png").write_bytes(encode(natural_image(100, 120, 1), "PNG"))
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (tmp_path / "ok.png").write_bytes(encode(natural_image(260, 260, 2), "PNG"))
    out = tmp_path / "out"
    res = runner.invoke(app, ["mark", str(tmp_path / "small.png"), str(tmp_path / "corrupt.jpg"), str(tmp_path / "ok.png"),
                              "--out", str(out), "--key", KEY])
    assert res.exit_code == 1
    errs = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert any("small.png" in ln and "too small" in ln for ln in errs)
    assert any("corrupt.jpg" in ln for ln in errs)
    assert (out / "ok.png").exists()
    res = runner.invoke(app, ["mark", str(tmp_path / "corrupt.jpg"), str(tmp_path / "ok.png"), "--out", str(tmp_path / "o2"),
                              "--key", KEY, "--format", "json"])
    from tests.test_contracts import _validate

    doc = json.loads(res.stdout)
    _validate("mark", doc)
    assert res.exit_code == 1 and doc[0]["error"] and doc[1]["error"] is None
    for args, needle in ((["--key", "short"], "at least 8"), (["--key", KEY, "--message", "much too long"], "too long"),
                         (["--key", KEY, "--method", "nope"], "unknown watermark method"),
                         (["--key", KEY, "--method", "dwtDct", "--message", "x"], "zero-bit")):
        res = runner.invoke(app, ["mark", str(tmp_path / "ok.png"), "--out", str(out), *args])
        assert res.exit_code == 2 and needle in res.stderr and len(res.stderr.strip().splitlines()) == 1
    res = runner.invoke(app, ["verify", str(tmp_path / "corrupt.jpg"), str(out / "ok.png"), "--key", KEY, "--format", "json"])
    assert res.exit_code == 1
    rows = json.loads(res.stdout)
    assert rows[0]["error"] and rows[1]["detected"] and rows[1]["message"] is not None
    res = runner.invoke(app, ["verify", str(out / "ok.png"), "--key", "hex:12"])
    assert res.exit_code == 2


def test_scan_analyzer(tmp_path, marked, photo):
    assert sleuth.scan(encode(marked, "PNG")).get("watermark") is None  # no key configured: no item
    rep = sleuth.scan(encode(marked, "PNG"), options={"watermark_keys": [KEY]})
    ev = rep.get("watermark")
    assert ev.verdict == "detected" and ev.p_value < 1e-9 and ev.details["message"] == "sleuth42"
    assert KEY not in json.dumps(rep.to_dict())
    rep = sleuth.scan(encode(photo, "PNG"), options={"watermark_keys": ["a different key", KEY]})
    assert rep.get("watermark").verdict == "no-evidence"


def test_baselines_same_interface(photo):
    from sleuth.watermark.methods import MethodUnavailable, get_method

    m = get_method("dwtDctSvd")
    r = m.detect(m.embed(photo, KEY), KEY, fpr=1e-3)
    assert r.n_bits == 48 and r.score >= 44 and r.detected
    assert not m.detect(photo, KEY, fpr=1e-3).detected
    try:
        get_method("trustmark")
    except MethodUnavailable as exc:
        assert "TrustMark skipped" in str(exc)


def test_key_from_environment_keeps_spaces(tmp_path, marked):
    (tmp_path / "m.png").write_bytes(encode(marked, "PNG"))
    env = {"SLEUTH_WATERMARK_KEY": KEY}
    res = runner.invoke(app, ["verify", str(tmp_path / "m.png"), "--format", "json"], env=env)
    assert res.exit_code == 0 and json.loads(res.stdout)[0]["message"] == "sleuth42"
    from tests.test_contracts import _validate

    _validate("verify", json.loads(res.stdout))
    res = runner.invoke(app, ["scan", str(tmp_path / "m.png"), "-a", "watermark", "--format", "json"], env=env)
    assert res.exit_code == 0 and json.loads(res.stdout)[0]["evidence"][0]["verdict"] == "detected"
    res = runner.invoke(app, ["verify", str(tmp_path / "m.png")], env={"SLEUTH_WATERMARK_KEY": ""})
    assert res.exit_code == 2 and "no key" in res.stderr
