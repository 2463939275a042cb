"""Watermark keys: parsing and HKDF-SHA256 derivation of every seed the schemes use.

A key is either a passphrase (at least 8 characters, not only whitespace) or hex (``hex:``
followed by at least 32 hex digits, or a bare string of >= 32 hex digits). Everything secret
in a mark (tile pattern, chip permutation, payload whitening, baseline bits) is derived from
the key with HKDF-SHA256 (RFC 5869) under a distinct ``info`` label, so one key never reuses
a stream. The key itself is held only in memory: :class:`WatermarkKey` hides it from
``repr``/``str`` and no scheme writes it (or anything that identifies it) to outputs or logs;
``fingerprint`` is a non-reversible HKDF output for telling keys apart in tests.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import string

import numpy as np

from ..errors import UsageError

_SALT = b"sleuth-watermark-v1"
_HEX = re.compile(r"^[0-9a-fA-F]+$")
MIN_PASSPHRASE = 8
MIN_HEX_DIGITS = 32


class KeyError_(UsageError):
    """A key of the wrong form (exit code 2)."""


def hkdf(ikm: bytes, info: bytes, length: int = 32, salt: bytes = _SALT) -> bytes:
    """RFC 5869 HKDF-SHA256 (extract then expand)."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


class WatermarkKey:
    """A parsed key. ``str()``/``repr()`` never show the secret."""

    __slots__ = ("_ikm", "kind")

    def __init__(self, ikm: bytes, kind: str):
        self._ikm = ikm
        self.kind = kind

    def __repr__(self) -> str:
        return f"WatermarkKey({self.kind}, <hidden>)"

    __str__ = __repr__

    def derive(self, label: str, length: int = 32) -> bytes:
        return hkdf(self._ikm, label.encode(), length)

    def rng(self, label: str) -> np.random.Generator:
        return np.random.default_rng(int.from_bytes(self.derive(label, 32), "big"))

    @property
    def fingerprint(self) -> str:
        return self.derive("fingerprint", 8).hex()


def parse_key(key: str | bytes | WatermarkKey) -> WatermarkKey:
    """Accept a passphrase (>= 8 chars), ``hex:<digits>`` or bare hex (>= 32 digits)."""
    if isinstance(key, WatermarkKey):
        return key
    if isinstance(key, bytes):
        if len(key) < 16:
            raise KeyError_(f"key: raw key bytes must be at least 16 bytes, got {len(key)}")
        return WatermarkKey(b"raw:" + key, "raw")
    if not isinstance(key, str):
        raise KeyError_("key: must be a passphrase or hex string")
    k = key.strip()
    if k.lower().startswith("hex:"):
        digits = k[4:]
        if not _HEX.match(digits) or len(digits) % 2:
            raise KeyError_("key: 'hex:' must be followed by an even number of hex digits")
        if len(digits) < MIN_HEX_DIGITS:
            raise KeyError_(f"key: hex keys need at least {MIN_HEX_DIGITS} hex digits (128 bits), got {len(digits)}")
        return WatermarkKey(b"raw:" + bytes.fromhex(digits), "hex")
    if _HEX.match(k) and len(k) >= MIN_HEX_DIGITS and len(k) % 2 == 0:
        return WatermarkKey(b"raw:" + bytes.fromhex(k), "hex")
    if len(k) < MIN_PASSPHRASE:
        raise KeyError_(f"key: passphrases need at least {MIN_PASSPHRASE} characters (or give hex:<32+ hex digits>)")
    if any(c not in string.printable and not c.isprintable() for c in k):
        raise KeyError_("key: contains control characters")
    return WatermarkKey(b"pass:" + k.encode("utf-8"), "passphrase")
