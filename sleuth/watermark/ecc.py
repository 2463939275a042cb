"""Payload coding: 64 data bits + BCH(t=8) over GF(2^8) = 128 coded bits (bchlib); the
128-bit layout uses the same code on 128 data bits (192 coded bits, the same 8 corrections).

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
PARITY_BITS = 8 * T_CORRECT  # BCH over GF(2^8): m * t parity bits
CODED_BITS = DATA_BITS + PARITY_BITS


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
    """8 (or 16) data bytes -> 128 (or 192) coded bits (uint8 0/1), data first (systematic)."""
    if len(data) not in (8, 16):
        raise UsageError(f"payload must be exactly {DATA_BITS // 8} bytes (or 16 for the 128-bit layout)")
    ecc = _bch().encode(bytes(data))
    return np.unpackbits(np.frombuffer(bytes(data) + bytes(ecc), np.uint8))


def decode(bits: np.ndarray, data_bytes: int = DATA_BITS // 8) -> Decoded:
    """Hard coded bits (data then 64 parity) -> data bytes, corrected count (or failure)."""
    n_bits = 8 * data_bytes + PARITY_BITS
    bits = np.asarray(bits, np.uint8)[:n_bits]
    raw = np.packbits(bits).tobytes()
    data, ecc = bytearray(raw[:data_bytes]), bytearray(raw[data_bytes:])
    bch = _bch()
    n = bch.decode(data, ecc)
    if n < 0:
        return Decoded(bytes(raw[:data_bytes]), False, -1)
    bch.correct(data, ecc)
    return Decoded(bytes(data), True, int(n))


def message_to_bytes(message: str | None = None, hex_: str | None = None, bits: int = DATA_BITS) -> bytes:
    """A text message (UTF-8, <= bits / 8 bytes) or hex (<= bits / 4 digits) -> bits / 8 bytes, NUL padded."""
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
    if len(b) > bits // 8:
        raise UsageError(f"message too long for the payload: {len(b)} bytes, the payload holds {bits // 8} bytes ({bits} bits)")
    return b.ljust(bits // 8, b"\0")


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


def decode_soft(soft: np.ndarray, flips: int = 8, data_bytes: int = DATA_BITS // 8) -> Decoded:
    """Chase-II decoding: hard decision first, then the ``flips`` least reliable bits are
    flipped in all 2**flips patterns (fewest flips first) until BCH decoding succeeds. The
    count reported is the total number of bits that differ from the hard decision.

    Parameters
    ----------
    soft : numpy.ndarray
        Soft values of the coded bits (positive = 1).
    flips : int
        Least reliable positions tried.
    data_bytes : int
        8 (64-bit payload) or 16 (128-bit payload).

    Returns
    -------
    Decoded
        The data, whether decoding succeeded and the bits changed.
    """
    soft = np.asarray(soft, float)[:8 * data_bytes + PARITY_BITS]
    hard = (soft > 0).astype(np.uint8)
    first = decode(hard, data_bytes)
    if first.ok or flips <= 0:
        return first
    order = np.argsort(np.abs(soft))[:flips]
    patterns = sorted(range(1, 1 << flips), key=lambda m: bin(m).count("1"))
    for m in patterns:
        trial = hard.copy()
        idx = order[[i for i in range(flips) if m >> i & 1]]
        trial[idx] ^= 1
        d = decode(trial, data_bytes)
        if d.ok:
            return Decoded(d.data, True, d.corrected + len(idx))
    return first
