"""Shared fixtures: every test image is made here, never read from ../shared/data."""
from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("SLEUTH_OFFLINE", "1")


def natural_image(h: int = 384, w: int = 512, seed: int = 0) -> np.ndarray:
    """A photo-like RGB image: smooth gradients, shapes, texture and mild noise.

    Same pixels as before: the generator moved to ``sleuth.examples.photo_like`` so the demo
    examples use it too."""
    from sleuth.examples import photo_like

    return photo_like(h, w, seed)


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
