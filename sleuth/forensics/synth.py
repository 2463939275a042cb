"""Tampering generators shared by the tests and the benchmark (no data read here).

Design
------
Each generator takes RGB uint8 arrays and a numpy Generator and returns ``(jpeg_bytes, mask)``
with mask HxW bool (True = manipulated). All outputs, pristine ones included, go through the
same final save (JPEG at ``out_quality``), so a detector cannot tell tampered from pristine by
the last compression alone.

* ``splice``: a blob from another photo, compressed beforehand at a different quality
  (``donor_quality``) and pasted at a random offset (not 8-aligned), i.e. a different JPEG
  history; the usual case of a pasted object.
* ``copy_move``: a blob of the same image, rotated and scaled (``angle``, ``scale``), pasted
  elsewhere; the mask is source + target, as the copy-move map marks both.
* ``inpaint_removal``: ``cv2.inpaint`` (Telea) over a blob, the "erased person" case.
* ``resampled_paste``: a blob from another photo resized by ``factor`` (bicubic) and pasted.
* ``colour_adjust``: a region recoloured in place (gamma, saturation, gain), feathered.
* ``pristine``: the untouched image through the same final save.
"""
from __future__ import annotations

import io

import numpy as np


def _save(rgb: np.ndarray, quality: int | None) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    if quality is None:
        Image.fromarray(rgb).save(buf, "PNG")
    else:
        Image.fromarray(rgb).save(buf, "JPEG", quality=int(quality))
    return buf.getvalue()


def jpeg_history(rgb: np.ndarray, q: int) -> np.ndarray:
    """``rgb`` after one Pillow JPEG save at quality ``q`` (the history every generated host gets)."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(_save(rgb, q))).convert("RGB"))


def blob_mask(h: int, w: int, rng: np.random.Generator, frac: tuple[float, float] = (0.04, 0.12)) -> np.ndarray:
    """A random smooth blob (union of ellipses) covering roughly ``frac`` of the image, not touching the border."""
    import cv2

    area = rng.uniform(*frac) * h * w
    r = np.sqrt(area / np.pi)
    m = np.zeros((h, w), np.uint8)
    cy = int(rng.uniform(r + 4, max(r + 5, h - r - 4)))
    cx = int(rng.uniform(r + 4, max(r + 5, w - r - 4)))
    for _ in range(3):
        ax = (max(3, int(r * rng.uniform(0.6, 1.1))), max(3, int(r * rng.uniform(0.6, 1.1))))
        c = (int(np.clip(cx + rng.normal(0, r * 0.25), 0, w - 1)), int(np.clip(cy + rng.normal(0, r * 0.25), 0, h - 1)))
        cv2.ellipse(m, c, ax, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return m.astype(bool)


def _place(mask: np.ndarray, rng: np.random.Generator, avoid: np.ndarray | None = None) -> tuple[int, int]:
    """A shift (dy, dx) moving ``mask`` inside the image, away from ``avoid``."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
    best = (0, 0)
    for _ in range(50):
        dy = int(rng.integers(-y0, h - y1))
        dx = int(rng.integers(-x0, w - x1))
        if avoid is None:
            return dy, dx
        moved = np.zeros_like(mask)
        moved[ys + dy, xs + dx] = True
        if not (moved & avoid).any() and (dy % 8 or dx % 8):
            return dy, dx
        best = (dy, dx)
    return best


def _shift(a: np.ndarray, dy: int, dx: int) -> np.ndarray:
    out = np.zeros_like(a)
    h, w = a.shape[:2]
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = a[ys, xs]
    return out


def pristine(rgb: np.ndarray, rng: np.random.Generator, out_quality: int = 90) -> tuple[bytes, np.ndarray]:
    return _save(rgb, out_quality), np.zeros(rgb.shape[:2], bool)


def splice(host: np.ndarray, donor: np.ndarray, rng: np.random.Generator, donor_quality: int | None = 60,
           out_quality: int = 90) -> tuple[bytes, np.ndarray]:
    import cv2

    h, w = host.shape[:2]
    donor = cv2.resize(donor, (w, h), interpolation=cv2.INTER_AREA) if donor.shape[:2] != (h, w) else donor
    if donor_quality is not None:
        donor = jpeg_history(donor, donor_quality)
    src = blob_mask(h, w, rng)
    dy, dx = _place(src, rng)
    dy = dy if dy % 8 else dy + (3 if dy + 3 < h else -3)
    tgt = _shift(src, dy, dx)
    out = host.copy()
    out[tgt] = _shift(donor, dy, dx)[tgt]
    return _save(out, out_quality), tgt


def copy_move(rgb: np.ndarray, rng: np.random.Generator, angle: float = 15.0, scale: float = 1.1,
              out_quality: int = 90) -> tuple[bytes, np.ndarray]:
    import cv2

    h, w = rgb.shape[:2]
    src = blob_mask(h, w, rng, (0.03, 0.08))
    ys, xs = np.nonzero(src)
    c = (float(xs.mean()), float(ys.mean()))
    M = cv2.getRotationMatrix2D(c, angle, scale)
    rot_img = cv2.warpAffine(rgb, M, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    rot_mask = cv2.warpAffine(src.astype(np.uint8), M, (w, h), flags=cv2.INTER_NEAREST) > 0
    dy, dx = _place(rot_mask, rng, avoid=cv2.dilate(src.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0)
    tgt = _shift(rot_mask, dy, dx)
    out = rgb.copy()
    out[tgt] = _shift(rot_img, dy, dx)[tgt]
    return _save(out, out_quality), tgt | src


def inpaint_removal(rgb: np.ndarray, rng: np.random.Generator, out_quality: int = 90) -> tuple[bytes, np.ndarray]:
    import cv2

    h, w = rgb.shape[:2]
    m = blob_mask(h, w, rng, (0.02, 0.06))
    out = cv2.inpaint(rgb, m.astype(np.uint8) * 255, 5, cv2.INPAINT_TELEA)
    return _save(out, out_quality), m


def resampled_paste(host: np.ndarray, donor: np.ndarray, rng: np.random.Generator, factor: float = 1.5,
                    out_quality: int = 90) -> tuple[bytes, np.ndarray]:
    import cv2

    h, w = host.shape[:2]
    big = cv2.resize(donor, (max(8, int(donor.shape[1] * factor)), max(8, int(donor.shape[0] * factor))),
                     interpolation=cv2.INTER_CUBIC)
    if big.shape[0] < h or big.shape[1] < w:
        big = cv2.copyMakeBorder(big, 0, max(0, h - big.shape[0]), 0, max(0, w - big.shape[1]), cv2.BORDER_REFLECT)
    big = big[:h, :w]
    m = blob_mask(h, w, rng, (0.06, 0.14))
    out = host.copy()
    out[m] = big[m]
    return _save(out, out_quality), m


def colour_adjust(rgb: np.ndarray, rng: np.random.Generator, gamma: float = 1.3, saturation: float = 1.3,
                  gain: float = 1.0, out_quality: int = 90) -> tuple[bytes, np.ndarray]:
    """A region recoloured in place (gamma, saturation and gain, feathered over about 3 px): the
    "brightened face" or "changed car colour" edit, with no pixel brought in from elsewhere."""
    import cv2

    h, w = rgb.shape[:2]
    m = blob_mask(h, w, rng, (0.04, 0.12))
    x = rgb.astype(np.float32) / 255.0
    grey = x.mean(axis=2, keepdims=True)
    adj = np.clip(grey + saturation * (x - grey), 0, 1) ** gamma * gain
    alpha = cv2.GaussianBlur(m.astype(np.float32), (0, 0), 1.5)[..., None]
    out = np.clip((alpha * adj + (1 - alpha) * x) * 255 + 0.5, 0, 255).astype(np.uint8)
    return _save(out, out_quality), m
