"""TrustMark decode path, wired end to end with a small stand-in ONNX decoder of the same interface.

The real TrustMark weights cannot be downloaded here; the stand-in maps an image to 100 logits
(input 1x3x256x256 in [-1, 1], output 1x100), so everything around the network is exercised:
discovery in the cache, preprocessing, ONNX Runtime, BCH packet decoding, p-value, evidence.
"""
from __future__ import annotations

import numpy as np
import pytest

from sleuth.pipeline import scan
from sleuth.watermark import trustmark as tm

from .conftest import encode, natural_image

onnx = pytest.importorskip("onnx")


def _stand_in(path, packet: np.ndarray) -> None:
    """logits = 10 * mean(image) * (2 packet - 1): bright images read the packet, dark ones its complement."""
    from onnx import TensorProto, helper, numpy_helper

    w = (10.0 * (2.0 * packet.astype(np.float32) - 1.0))[None]
    nodes = [helper.make_node("Flatten", ["image"], ["flat"], axis=1),
             helper.make_node("ReduceMean", ["flat"], ["m"], axes=[1], keepdims=1),
             helper.make_node("MatMul", ["m", "W"], ["logits"])]
    graph = helper.make_graph(nodes, "trustmark_stand_in",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 256, 256])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 100])],
                              initializer=[numpy_helper.from_array(w, "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.mark.parametrize("version", sorted(tm.SCHEMAS))
def test_packet_round_trip_and_error_correction(version):
    rng = np.random.default_rng(version)
    _, k, _, t = tm.SCHEMAS[version]
    data = rng.integers(0, 2, k).astype(np.uint8)
    pkt = tm.encode_packet(data, version)
    assert pkt.size == tm.N_BITS
    r = tm.decode_packet(pkt)
    assert r["ecc_ok"] and r["corrected"] == 0 and r["data_bits"] == "".join(map(str, data)) and r["version"] == version
    noisy = pkt.copy()
    flip = rng.choice(k, t, replace=False)  # t errors in the data part are corrected
    noisy[flip] ^= 1
    r = tm.decode_packet(noisy)
    assert r["ecc_ok"] and r["corrected"] == t and r["data_bits"] == "".join(map(str, data))
    assert 0 < r["p_value"] < 1


def test_random_packets_rarely_decode_and_p_value_bounds_it():
    rng = np.random.default_rng(0)
    hits = dict.fromkeys(tm.SCHEMAS, 0)
    n = 4000
    for _ in range(n):
        bits = rng.integers(0, 2, tm.N_BITS).astype(np.uint8)
        r = tm.decode_packet(bits)
        if r["ecc_ok"]:
            hits[r["version"]] += 1
    # the stated p-value bounds the observed rate of random packets that decode (with slack for n)
    total = sum(hits.values()) / n
    bound = sum(tm.random_decode_probability(v) for v in tm.SCHEMAS) * len(tm.SCHEMAS) / 16
    assert total <= bound * 1.5 + 3 / n


def test_trustmark_is_decoded_from_a_cached_decoder(tmp_path, monkeypatch):
    data = np.random.default_rng(7).integers(0, 2, 40).astype(np.uint8)
    packet = tm.encode_packet(data, 5)  # BCH_SUPER, the strongest schema
    (tmp_path / "models" / "trustmark").mkdir(parents=True)
    _stand_in(tmp_path / "models" / "trustmark" / "decoder_Q.onnx", packet)
    monkeypatch.setenv("SLEUTH_CACHE", str(tmp_path))
    assert tm.find_decoder() == tmp_path / "models" / "trustmark" / "decoder_Q.onnx"

    bright = np.clip(natural_image(300, 400, seed=2).astype(int) + 120, 0, 255).astype(np.uint8)
    rep = scan(encode(bright, "PNG"), ["known-watermark"], options={"fpr": 1e-3}, keep_maps=False)
    ev = rep.get("known-watermark")
    assert ev.details["checked"]["trustmark"] == "detected" and ev.verdict == "trustmark"
    d = ev.details["trustmark"]
    assert d["ecc_ok"] and d["schema"] == "BCH_SUPER" and d["data_bits"] == "".join(map(str, data))
    assert d["p_value"] == pytest.approx(tm.random_decode_probability(5)) and ev.p_value == d["p_value"]
    # at the default FPR (1e-6) the BCH null is too weak to claim the mark: it says so
    ev = scan(encode(bright, "PNG"), ["known-watermark"], keep_maps=False).get("known-watermark")
    assert ev.verdict == "no-evidence" and ev.details["checked"]["trustmark"].startswith("decoded (ECC ok) but p=")

    dark = (natural_image(300, 400, seed=2) // 4).astype(np.uint8)  # reads the complement: no valid packet
    ev = scan(encode(dark, "PNG"), ["known-watermark"], options={"fpr": 1e-3}, keep_maps=False).get("known-watermark")
    assert ev.details["checked"]["trustmark"] == "not detected" and not ev.details["trustmark"]["ecc_ok"]


def test_explicit_model_option_and_missing_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("SLEUTH_CACHE", str(tmp_path))
    ev = scan(encode(natural_image(300, 300), "PNG"), ["known-watermark"], keep_maps=False).get("known-watermark")
    if tm.find_decoder() is None:
        assert ev.details["checked"]["trustmark"].startswith("not checked: weights not available")
    model = tmp_path / "elsewhere.onnx"
    _stand_in(model, tm.encode_packet(np.zeros(61, np.uint8), 1))
    ev = scan(encode(natural_image(300, 300), "PNG"), ["known-watermark"],
              options={"known_watermark_trustmark_model": str(model)}, keep_maps=False).get("known-watermark")
    assert ev.details["trustmark"]["backend"] == "onnx" and "bits" in ev.details["trustmark"]
