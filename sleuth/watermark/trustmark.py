"""TrustMark (Adobe; the C2PA soft-binding mark) decoded with ONNX Runtime from a cached decoder.

Design
------
* **Weights**: never downloaded. The decoder is an ONNX file with TrustMark's decoder
  interface: one float32 input ``1 x 3 x 256 x 256`` (RGB, values in [-1, 1], the image resized
  bilinearly to 256 x 256) and one output whose first 100 values are the bit logits (bit = logit
  > 0). It is looked for at the explicit path (option ``known_watermark_trustmark_model``), then
  in the user's cache (``$SLEUTH_CACHE/models/trustmark/decoder_Q.onnx`` or
  ``$SLEUTH_CACHE/models/trustmark_decoder_Q.onnx``), then beside an installed ``trustmark``
  package (``trustmark/models/decoder_Q.onnx``).
* **Packet** (TrustMark's data layer): 100 bits = data + BCH parity (primitive polynomial 137,
  GF(2^7), bchlib) + 4 version bits naming the schema. Versions 1-5 are BCH_5 (61 data bits,
  t=5), BCH_4 (68, 4), BCH_3 (75, 3), BCH_2 (82, 2), BCH_SUPER (40, 8); version 0 ("Default")
  carries 56 data bits in 7 bytes and the BCH_5 parity in the next 5 bytes. Data and parity are
  zero-padded to whole bytes for bchlib, as TrustMark does.
* **p-value**: the chance that a random 96-bit word decodes under the schema its version bits
  name, ``sum_{i<=t} C(n, i) / 2^(n-k)`` (n data+parity bits, k data bits), times 16 / 6 for
  the version nibble hitting one of the six valid values. It is the only null we can state
  without TrustMark's weights; the mark is reported when the BCH decode succeeds and that p is
  at most the FPR.
"""
from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

N_BITS = 100
VERSION_BITS = 4
SIZE = 256
BCH_POLY = 137
# version -> (name, data bits, parity bits, t)
SCHEMAS: dict[int, tuple[str, int, int, int]] = {
    0: ("Default", 56, 35, 5), 1: ("BCH_5", 61, 35, 5), 2: ("BCH_4", 68, 28, 4),
    3: ("BCH_3", 75, 21, 3), 4: ("BCH_2", 82, 14, 2), 5: ("BCH_SUPER", 40, 56, 8),
}
DECODER_FILES = ("trustmark/decoder_Q.onnx", "trustmark_decoder_Q.onnx")


def find_decoder(explicit: str | Path | None = None) -> Path | None:
    """The TrustMark decoder ONNX file, or None when none is present (no download is tried).

    Parameters
    ----------
    explicit : str or pathlib.Path, optional
        A path given by the user; used when it is a file.

    Returns
    -------
    pathlib.Path or None
    """
    import importlib.util

    from ..models import cache_dir

    cands = [Path(explicit)] if explicit else []
    cands += [cache_dir() / "models" / f for f in DECODER_FILES]
    spec = importlib.util.find_spec("trustmark")
    if spec is not None and spec.submodule_search_locations:
        cands += [Path(loc) / "models" / "decoder_Q.onnx" for loc in spec.submodule_search_locations]
    return next((c for c in cands if c.is_file()), None)


@lru_cache(maxsize=2)
def _session(path: str):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def decoder_input(rgb: np.ndarray) -> np.ndarray:
    """TrustMark's decoder input: bilinear resize to 256 x 256, [-1, 1], NCHW float32."""
    from PIL import Image

    im = Image.fromarray(np.ascontiguousarray(rgb)).resize((SIZE, SIZE), Image.Resampling.BILINEAR)
    x = np.asarray(im, np.float32) / 127.5 - 1.0
    return x.transpose(2, 0, 1)[None]


def _bch(t: int):
    import bchlib

    return bchlib.BCH(t, prim_poly=BCH_POLY)


def _to_bytes(bits: np.ndarray) -> bytearray:
    pad = (-bits.size) % 8
    return bytearray(np.packbits(np.concatenate([bits, np.zeros(pad, np.uint8)]).astype(np.uint8)).tobytes())


def _split(packet: np.ndarray, version: int) -> tuple[np.ndarray, np.ndarray]:
    name, k, r, _ = SCHEMAS[version]
    if version == 0:  # 12 bytes: 7 data bytes, 5 parity bytes (35 parity bits + 5 pad)
        return packet[:56], packet[56:96]
    return packet[:k], packet[k:k + r]


def encode_packet(data_bits: np.ndarray, version: int = 1) -> np.ndarray:
    """A 100-bit TrustMark packet (data, BCH parity, version nibble), as TrustMark's encoder makes it.

    Parameters
    ----------
    data_bits : numpy.ndarray
        0/1 payload bits; cut or zero-padded to the schema's capacity.
    version : int
        Schema version (0-5).

    Returns
    -------
    numpy.ndarray
        100 uint8 bits.
    """
    _, k, r, t = SCHEMAS[version]
    d = np.zeros(k, np.uint8)
    src = np.asarray(data_bits, np.uint8)[:k]
    d[: src.size] = src
    ecc = np.unpackbits(np.frombuffer(bytes(_bch(t).encode(_to_bytes(d))), np.uint8))[:r]
    if version == 0:
        ecc = np.concatenate([ecc, np.zeros(5, np.uint8)])
    v = np.array([int(c) for c in format(version, "04b")], np.uint8)
    return np.concatenate([d, ecc, v])


def random_decode_probability(version: int) -> float:
    """P(a random packet decodes under this schema), counting the version nibble's chance too."""
    _, k, r, t = SCHEMAS[version]
    n = k + r
    return min(1.0, sum(math.comb(n, i) for i in range(t + 1)) / 2.0 ** r * 16 / len(SCHEMAS))


def decode_packet(bits: np.ndarray) -> dict[str, Any]:
    """BCH-decode a 100-bit packet.

    Parameters
    ----------
    bits : numpy.ndarray
        100 hard bits (0/1).

    Returns
    -------
    dict
        ``version``, ``schema``, ``ecc_ok``, ``corrected`` (-1 when decoding failed),
        ``data_bits`` (string of 0/1, corrected when ecc_ok), ``p_value``.
    """
    bits = np.asarray(bits, np.uint8).ravel()[:N_BITS]
    version = int("".join(map(str, bits[-VERSION_BITS:])), 2)
    if version not in SCHEMAS:
        return {"version": version, "schema": "unknown", "ecc_ok": False, "corrected": -1, "data_bits": "", "p_value": 1.0}
    name, k, r, t = SCHEMAS[version]
    d, e = _split(bits, version)
    data, ecc = _to_bytes(d), _to_bytes(e[:r] if version else e)
    bch = _bch(t)
    ecc = ecc[: bch.ecc_bytes]
    try:
        nerr = bch.decode(data, ecc)
        if nerr >= 0:
            bch.correct(data, ecc)
    except (ValueError, RuntimeError):  # bchlib refuses malformed lengths
        nerr = -1
    out_bits = np.unpackbits(np.frombuffer(bytes(data), np.uint8))[:k] if nerr >= 0 else d[:k]
    return {"version": version, "schema": name, "ecc_ok": nerr >= 0, "corrected": int(nerr),
            "data_bits": "".join(map(str, out_bits)), "p_value": random_decode_probability(version) if nerr >= 0 else 1.0}


def decode(rgb: np.ndarray, model: str | Path) -> dict[str, Any]:
    """Run the TrustMark decoder on an image and decode its packet.

    Parameters
    ----------
    rgb : numpy.ndarray
        H x W x 3 uint8 image.
    model : str or pathlib.Path
        The decoder ONNX file (see :func:`find_decoder`).

    Returns
    -------
    dict
        :func:`decode_packet`'s fields plus ``bits`` (the 100 raw bits as a string).
    """
    sess = _session(str(model))
    name = sess.get_inputs()[0].name
    logits = np.asarray(sess.run(None, {name: decoder_input(rgb)})[0], np.float32).ravel()
    if logits.size < N_BITS:
        raise ValueError(f"TrustMark decoder {model} returned {logits.size} values, expected {N_BITS}")
    bits = (logits[:N_BITS] > 0).astype(np.uint8)
    return {"bits": "".join(map(str, bits)), **decode_packet(bits)}
