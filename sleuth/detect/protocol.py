"""The format-neutral protocol and the training augmentations.

Design
------
Format-1 (v0.1) protocol; format-2 heads use views.py. The aigen development data is
format-biased: real photos are mostly JPEG, synthetic images often PNG, and sizes differ (a
width/height/format/filesize baseline separates the raw files, see docs/benchmarks.md). Every detector therefore sees pixels that went through
the same path, at training, in the benchmark *and at inference*:

    decode -> RGB (metadata dropped) -> centre-crop to at most 512x512 (no resizing)
           -> [variant: 0.5x area downscale] -> JPEG re-encode (quality 90, 4:2:0) -> decode

Variants used by the benchmark: ``jpeg90`` (default), ``jpeg75`` and ``down05`` (0.5x then
JPEG 90). Training copies (``aug0``, ``aug1``, ...) add a random Gaussian blur (p=0.5,
sigma 0.3-1.5), a random downscale (p=0.5, 0.5-1.0x) and a random JPEG quality (60-95),
seeded by the file's sha256 so that ``sleuth train`` is reproducible bit for bit.
"""
from __future__ import annotations

import hashlib
import io

import numpy as np
from PIL import Image

MAX_SIDE = 512
EVAL_VARIANTS = ("jpeg90", "jpeg75", "down05")
PROTOCOL_VERSION = "fn1"  # bump when any step below changes (feature caches are keyed by it)


def centre_crop(rgb: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    h, w = rgb.shape[:2]
    ch, cw = min(h, max_side), min(w, max_side)
    y, x = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(rgb[y:y + ch, x:x + cw])


def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=int(quality), subsampling=2)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def downscale(rgb: np.ndarray, scale: float) -> np.ndarray:
    import cv2

    h, w = rgb.shape[:2]
    nh, nw = max(8, int(round(h * scale))), max(8, int(round(w * scale)))
    return cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)


def _seed(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")


def apply(rgb: np.ndarray, variant: str = "jpeg90", key: str = "") -> np.ndarray:
    """Return the protocol image for ``variant`` (jpeg90, jpeg75, down05, augN)."""
    import cv2

    x = centre_crop(rgb)
    if variant == "jpeg90":
        return jpeg_roundtrip(x, 90)
    if variant == "jpeg75":
        return jpeg_roundtrip(x, 75)
    if variant == "down05":
        return jpeg_roundtrip(downscale(x, 0.5), 90)
    if variant.startswith("aug"):
        rng = np.random.default_rng(_seed(f"{key}:{variant}"))
        if rng.random() < 0.5:
            s = float(rng.uniform(0.3, 1.5))
            x = cv2.GaussianBlur(x, (0, 0), s)
        if rng.random() < 0.5:
            x = downscale(x, float(rng.uniform(0.5, 1.0)))
        return jpeg_roundtrip(x, int(rng.integers(60, 96)))
    raise ValueError(f"unknown protocol variant {variant!r}")
