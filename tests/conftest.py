"""Shared fixtures: every test image is made here, never read from ../shared/data."""
from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("SLEUTH_OFFLINE", "1")


def natural_image(h: int = 384, w: int = 512, seed: int = 0) -> np.ndarray:
    """A photo-like RGB image: smooth gradients, shapes, texture and mild noise."""
    import cv2

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        a, b = rng.uniform(-1, 1, 2)
        img[..., c] = 110 + 60 * np.sin(xx / w * np.pi * (1 + c) * a + yy / h * np.pi * b + c)
    for _ in range(12):
        col = rng.uniform(0, 255, 3).tolist()
        cx, cy = int(rng.uniform(0, w)), int(rng.uniform(0, h))
        r = int(rng.uniform(min(10, min(h, w) / 8), max(min(h, w) / 4, 11)))
        if rng.random() < 0.5:
            cv2.circle(img, (cx, cy), r, col, -1)
        else:
            cv2.rectangle(img, (cx, cy), (cx + r, cy + int(r * 0.7)), col, -1)
    tex = cv2.GaussianBlur(rng.normal(0, 18, (h, w)).astype(np.float32), (0, 0), 1.2)
    img += tex[..., None]
    img = cv2.GaussianBlur(img, (0, 0), 0.8)
    img += rng.normal(0, 2.0, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def encode(arr: np.ndarray, fmt: str = "JPEG", **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.fixture
def photo() -> np.ndarray:
    return natural_image()


@pytest.fixture
def photo_jpeg(tmp_path, photo):
    p = tmp_path / "photo.jpg"
    p.write_bytes(encode(photo, "JPEG", quality=90))
    return p
