"""Format-neutral views (protocol ``fn2``): benchmark protocols, training augmentations, crops.

Design
------
Every pixel the detector sees went through one path, at training, in the benchmark and at
inference:

    image -> [protocol or augmentation] -> analysed region (centre <= ANALYSE_SIDE px, no resizing)
          -> JPEG 90 4:2:0 round trip (normalises the container history) -> 224 px crops (native)

Benchmark protocols (issue 16): ``c320q90`` centre crop 320 + JPEG 90; ``r320q90`` short side
resized to 320 (bicubic) + centre crop 320 + JPEG 90; ``c320q75`` centre crop 320 + JPEG 75.

Training augmentation ``augN`` (applied to both classes, CNNDetection manner, seeded by the file's
sha256 and N so training is reproducible): resize 0.5-1.5x with a random kernel (area, bilinear,
bicubic, Lanczos; p=0.7), mild Gaussian blur (p=0.2) and noise (p=0.2), a random 320 crop at any
offset (so an earlier JPEG grid is misaligned as often as not), JPEG quality 60-100 with 4:2:0 or
4:4:4 chroma. The JPEG 85 4:2:0 history of every ``aigen_modern`` synthetic image and the q96 4:4:4
of most ImageNet photos are thereby present in both classes.

Crops: ``crop_boxes`` returns the native-resolution 224 windows scored for an analysed region:
its top-left and bottom-right corners (together they cover a 320 px region), then the centre;
regions smaller than 224 px are padded by edge reflection (never resized).
"""
from __future__ import annotations

import hashlib
import io

import numpy as np
from PIL import Image

PROTOCOL_VERSION = "fn2"
EVAL_PROTOCOLS = ("c320q90", "r320q90", "c320q75")
TRAIN_VARIANTS = ("c320q90", "aug0")  # aug1 also cached when compute allows; not used by the shipped head
ANALYSE_SIDE = 512
CROP = 224
SIDE = 320


def seed_of(key: str) -> int:
    """64-bit seed from a string (file sha256 + variant)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")


def centre_crop(rgb: np.ndarray, side: int) -> np.ndarray:
    """Centre crop to at most ``side`` x ``side`` (no resizing)."""
    h, w = rgb.shape[:2]
    ch, cw = min(h, side), min(w, side)
    y, x = (h - ch) // 2, (w - cw) // 2
    return np.ascontiguousarray(rgb[y:y + ch, x:x + cw])


def jpeg(rgb: np.ndarray, quality: int, subsampling: int = 2) -> np.ndarray:
    """JPEG round trip with Pillow (subsampling 2 = 4:2:0, 0 = 4:4:4)."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=int(quality), subsampling=int(subsampling))
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("RGB"))


def resize_short(rgb: np.ndarray, short: int) -> np.ndarray:
    """Resize so the short side is ``short`` px (bicubic)."""
    h, w = rgb.shape[:2]
    s = short / min(h, w)
    im = Image.fromarray(rgb).resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.BICUBIC)
    return np.asarray(im)


def protocol(rgb: np.ndarray, name: str) -> np.ndarray:
    """One of the benchmark protocols (EVAL_PROTOCOLS) applied to a decoded RGB image."""
    if name == "c320q90":
        return jpeg(centre_crop(rgb, SIDE), 90)
    if name == "c320q75":
        return jpeg(centre_crop(rgb, SIDE), 75)
    if name == "r320q90":
        return jpeg(centre_crop(resize_short(rgb, SIDE), SIDE), 90)
    raise ValueError(f"unknown protocol {name!r}")


def augment(rgb: np.ndarray, key: str) -> np.ndarray:
    """Seeded training augmentation (see module docstring); returns at most 320x320."""
    import cv2

    rng = np.random.default_rng(seed_of(key))
    x = rgb
    if rng.random() < 0.7:
        s = float(rng.uniform(0.5, 1.5))
        kern = [cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_LANCZOS4][int(rng.integers(4))]
        if s > 1 and kern == cv2.INTER_AREA:
            kern = cv2.INTER_LINEAR
        h, w = x.shape[:2]
        x = cv2.resize(x, (max(8, round(w * s)), max(8, round(h * s))), interpolation=kern)
    if rng.random() < 0.2:
        x = cv2.GaussianBlur(x, (0, 0), float(rng.uniform(0.3, 1.2)))
    if rng.random() < 0.2:
        x = np.clip(x + rng.normal(0, float(rng.uniform(1, 4)), x.shape), 0, 255).astype(np.uint8)
    h, w = x.shape[:2]
    ch, cw = min(h, SIDE), min(w, SIDE)
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    x = np.ascontiguousarray(x[y0:y0 + ch, x0:x0 + cw])
    return jpeg(x, int(rng.integers(60, 101)), 2 if rng.random() < 0.5 else 0)


def variant(rgb: np.ndarray, name: str, key: str = "") -> np.ndarray:
    """A benchmark protocol or a training augmentation (``augN``) by name."""
    if name.startswith("aug"):
        return augment(rgb, f"{key}:{name}")
    return protocol(rgb, name)


def analysed(rgb: np.ndarray) -> np.ndarray:
    """The detector's own normalisation: centre region <= ANALYSE_SIDE px, JPEG 90 4:2:0."""
    return jpeg(centre_crop(rgb, ANALYSE_SIDE), 90)


def pad_to(rgb: np.ndarray, size: int = CROP) -> np.ndarray:
    """Reflect-pad a region smaller than ``size`` on either side (no resampling)."""
    h, w = rgb.shape[:2]
    if h >= size and w >= size:
        return rgb
    ph, pw = max(0, size - h), max(0, size - w)
    return np.pad(rgb, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)), mode="reflect" if min(h, w) > 1 else "edge")


def crop_boxes(h: int, w: int, n: int, size: int = CROP) -> list[tuple[int, int]]:
    """Top-left corners of the ``n`` crops scored in an ``h`` x ``w`` region (h, w >= size)."""
    cands = [(0, 0), (h - size, w - size), ((h - size) // 2, (w - size) // 2),
             (0, w - size), (h - size, 0)]
    out: list[tuple[int, int]] = []
    for c in cands:
        if c not in out:
            out.append(c)
        if len(out) == n:
            break
    return out


def crops(region: np.ndarray, n: int, size: int = CROP) -> np.ndarray:
    """``n`` native-resolution crops (fewer when the region is too small to differ): k x 224 x 224 x 3."""
    x = pad_to(region, size)
    return np.stack([x[y:y + size, c:c + size] for y, c in crop_boxes(x.shape[0], x.shape[1], n, size)])


def random_crop(region: np.ndarray, key: str, size: int = CROP) -> np.ndarray:
    """One seeded random 224 crop (training augmentation)."""
    x = pad_to(region, size)
    rng = np.random.default_rng(seed_of(key + ":crop"))
    y0, x0 = int(rng.integers(0, x.shape[0] - size + 1)), int(rng.integers(0, x.shape[1] - size + 1))
    return x[y0:y0 + size, x0:x0 + size][None]
