"""Payload coding: 64 data bits + BCH(t=8) over GF(2^8) = 128 coded bits (bchlib).

BCH with m=8, t=8 adds 64 parity bits and corrects any 8 bit errors in the 128-bit word
(6.25 %). A random 128-bit word decodes to *some* codeword with probability about
C(128,<=8) / 2^64 ~ 8e-8, so a decoded message is also a (weak) integrity check; sleuth still
reports a message only when the zero-bit detector has fired.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import UsageError

DATA_BITS = 64
T_CORRECT = 8
CODED_BITS = 128


@lru_cache(maxsize=64)
def _bch_for(thread: int, t: int, m: int):
    import bchlib

    return bchlib.BCH(t, m=m)


def _bch(t: int = T_CORRECT, m: int = 8):
    # one codec per thread (its decode keeps state between decode and correct): constructing
    # it (GF tables) costs more than a decode, and Chase decoding calls decode up to 256 times
    return _bch_for(threading.get_ident(), t, m)


@dataclass
class Decoded:
    data: bytes  # 8 bytes (corrected when ok, raw systematic bits otherwise)
    ok: bool  # BCH decoding succeeded
    corrected: int  # bit errors corrected (-1 when decoding failed)


def encode(data: bytes) -> np.ndarray:
    """8 data bytes -> 128 coded bits (uint8 0/1), data first (systematic)."""
    if len(data) != DATA_BITS // 8:
        raise UsageError(f"payload must be exactly {DATA_BITS // 8} bytes")
    ecc = _bch().encode(bytes(data))
    return np.unpackbits(np.frombuffer(bytes(data) + bytes(ecc), np.uint8))[:CODED_BITS]


def decode(bits: np.ndarray) -> Decoded:
    """128 hard bits -> data bytes, corrected count (or failure)."""
    bits = np.asarray(bits, np.uint8)[:CODED_BITS]
    raw = np.packbits(bits).tobytes()
    data, ecc = bytearray(raw[:8]), bytearray(raw[8:16])
    bch = _bch()
    n = bch.decode(data, ecc)
    if n < 0:
        return Decoded(bytes(raw[:8]), False, -1)
    bch.correct(data, ecc)
    return Decoded(bytes(data), True, int(n))


def message_to_bytes(message: str | None = None, hex_: str | None = None) -> bytes:
    """A text message (UTF-8, <= 8 bytes) or hex (<= 16 digits) -> 8 bytes, NUL padded."""
    if message is not None and hex_ is not None:
        raise UsageError("give either --message or --hex, not both")
    if hex_ is not None:
        h = hex_.strip().lower().removeprefix("0x")
        try:
            b = bytes.fromhex(h)
        except ValueError:
            raise UsageError(f"--hex: not a hex string: {hex_!r}") from None
    else:
        b = (message or "").encode("utf-8")
    if len(b) > DATA_BITS // 8:
        raise UsageError(f"message too long for the payload: {len(b)} bytes, the payload holds {DATA_BITS // 8} bytes ({DATA_BITS} bits)")
    return b.ljust(DATA_BITS // 8, b"\0")


def bytes_to_message(b: bytes) -> str:
    """Printable UTF-8 text when the payload is one (NUL padding stripped), else hex."""
    s = b.rstrip(b"\0")
    try:
        t = s.decode("utf-8")
        if t and t.isprintable():
            return t
    except UnicodeDecodeError:
        pass
    return "hex:" + b.hex()


def decode_soft(soft: np.ndarray, flips: int = 8) -> Decoded:
    """Chase-II decoding: hard decision first, then the ``flips`` least reliable bits are
    flipped in all 2**flips patterns (fewest flips first) until BCH decoding succeeds. The
    count reported is the total number of bits that differ from the hard decision."""
    soft = np.asarray(soft, float)[:CODED_BITS]
    hard = (soft > 0).astype(np.uint8)
    first = decode(hard)
    if first.ok or flips <= 0:
        return first
    order = np.argsort(np.abs(soft))[:flips]
    patterns = sorted(range(1, 1 << flips), key=lambda m: bin(m).count("1"))
    for m in patterns:
        trial = hard.copy()
        idx = order[[i for i in range(flips) if m >> i & 1]]
        trial[idx] ^= 1
        d = decode(trial)
        if d.ok:
            return Decoded(d.data, True, d.corrected + len(idx))
    return first
