"""The copy-detection attack family: the strong, random edits a copied image goes through.

Design
------
DISC21-style transforms (crop, overlay onto another photo, screenshot templates, text and
emoji, strong blur, very low JPEG quality, pixelisation, rotation, flips, colour changes and
2-3 of them combined), each an :class:`~sleuth.attacks.Attack` of family ``copy-<name>`` so they
run through :func:`sleuth.attacks.apply` and record their random choices like every other
attack. Unlike the robustness suite (fixed levels), each draws its strength at random, which is
what copy detection is measured on. ``copy-overlay-bg`` pastes the image onto one of the
``backgrounds`` passed to ``apply``. AugLy provides overlays, screenshots and pixelisation.
"""
from __future__ import annotations

import contextvars
import os
from typing import Any

import numpy as np
from PIL import Image

from . import Attack, _note, encode_decode, gamma, rotate

#: other photos for ``copy-overlay-bg``, set by :func:`sleuth.attacks.apply` for one call
#: (a tuple, so the shared default cannot be mutated by one caller for the next)
BACKGROUNDS: contextvars.ContextVar[tuple[np.ndarray, ...]] = contextvars.ContextVar("sleuth_attack_backgrounds", default=())


def _augly() -> Any:
    import augly.image as imaugs

    return imaugs


def _pil(a: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(a)).convert("RGB")


def _arr(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("RGB"), np.uint8).copy()


def t_crop(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = a.shape[:2]
    keep = rng.uniform(0.3, 0.9)  # of the area
    ar = rng.uniform(0.75, 1.33)
    cw = int(np.clip(np.sqrt(keep * w * h * ar), 32, w))
    ch = int(np.clip(keep * w * h / cw, 32, h))
    x, y = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
    _note(box=[int(x), int(y), int(x + cw), int(y + ch)])
    return a[y:y + ch, x:x + cw].copy()


def t_overlay_bg(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    import cv2

    backgrounds = BACKGROUNDS.get()
    if not backgrounds:
        raise ValueError("copy-overlay-bg needs backgrounds: apply(..., backgrounds=[rgb, ...])")
    k = int(rng.integers(len(backgrounds)))
    bg = backgrounds[k].copy()
    H, W = bg.shape[:2]
    s = rng.uniform(0.35, 0.75)
    w = int(W * s)
    h = int(min(H * 0.95, w * a.shape[0] / a.shape[1]))
    w = int(h * a.shape[1] / a.shape[0])
    x, y = rng.integers(0, W - w + 1), rng.integers(0, H - h + 1)
    _note(background=k, box=[int(x), int(y), int(x + w), int(y + h)])
    bg[y:y + h, x:x + w] = cv2.resize(a, (w, h), interpolation=cv2.INTER_AREA)
    return bg


def t_screenshot(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    import augly.utils as au

    name = "web.png" if rng.random() < 0.5 else "mobile.png"
    crop = bool(rng.random() < 0.5)
    _note(template=name, crop_src_to_fit=crop)
    tmpl = os.path.join(au.SCREENSHOT_TEMPLATES_DIR, name)
    out = _arr(_augly().overlay_onto_screenshot(_pil(a), template_filepath=tmpl, crop_src_to_fit=crop))
    return _arr(_pil(out).resize((out.shape[1] // 2, out.shape[0] // 2), Image.Resampling.BICUBIC))


def t_text_emoji(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    im = _pil(a)
    imaugs = _augly()
    if rng.random() < 0.7:
        im = imaugs.overlay_text(im, font_size=float(rng.uniform(0.1, 0.2)), opacity=1.0,
                                 x_pos=float(rng.uniform(0, 0.4)), y_pos=float(rng.uniform(0, 0.6)),
                                 color=tuple(int(c) for c in rng.integers(0, 256, 3)))
        _note(text=True)
    if rng.random() < 0.7:
        im = imaugs.overlay_emoji(im, emoji_size=float(rng.uniform(0.15, 0.35)), opacity=1.0,
                                  x_pos=float(rng.uniform(0, 0.6)), y_pos=float(rng.uniform(0, 0.6)))
        _note(emoji=True)
    return _arr(im)


def t_blur(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    import cv2

    sigma = float(rng.uniform(2, 5))
    _note(sigma=sigma)
    return cv2.GaussianBlur(a, (0, 0), sigma)


def t_jpeg(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    q = int(rng.integers(5, 20))
    _note(quality=q)
    return encode_decode(a, "JPEG", q)


def t_pixelize(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    ratio = float(rng.uniform(0.08, 0.2))
    _note(ratio=ratio)
    return _arr(_augly().pixelization(_pil(a), ratio=ratio))


def t_rotate(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.3:
        k = int(rng.integers(1, 4))
        _note(rot90=k)
        return np.ascontiguousarray(np.rot90(a, k))
    deg = float(rng.uniform(10, 35)) * (1 if rng.random() < 0.5 else -1)
    crop = bool(rng.random() < 0.5)
    _note(degrees=deg, crop=crop)
    return rotate(a, deg, crop=crop)


def t_flip(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    horizontal = bool(rng.random() < 0.6)
    _note(direction="horizontal" if horizontal else "vertical")
    return np.ascontiguousarray(a[:, ::-1] if horizontal else a[::-1])


def t_colour(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    imaugs = _augly()
    im = _pil(a)
    r = rng.random()
    if r < 0.3:
        _note(op="grayscale")
        im = imaugs.grayscale(im)
    elif r < 0.8:
        b, c, s = float(rng.uniform(0.5, 1.6)), float(rng.uniform(0.5, 1.8)), float(rng.uniform(0, 2.5))
        _note(op="jitter", brightness=b, contrast=c, saturation=s)
        im = imaugs.color_jitter(im, brightness_factor=b, contrast_factor=c, saturation_factor=s)
    else:
        g = float(rng.choice([0.4, 2.2]))
        _note(op="gamma", gamma=g)
        return gamma(a, g)
    return _arr(im)


SINGLE = {"crop": t_crop, "overlay-bg": t_overlay_bg, "screenshot": t_screenshot, "text-emoji": t_text_emoji,
          "blur": t_blur, "jpeg": t_jpeg, "pixelize": t_pixelize, "rotate": t_rotate, "flip": t_flip, "colour": t_colour}


def t_combo(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    pool = ["crop", "text-emoji", "blur", "jpeg", "rotate", "flip", "colour", "pixelize"]
    steps = list(rng.choice(pool, size=int(rng.integers(2, 4)), replace=False))
    _note(steps=[str(s) for s in steps])
    for s in steps:
        a = SINGLE[s](a, rng)
    return a


#: family names in the order the copy-detection benchmark cycles through them
FAMILIES = [*SINGLE, "combo"]

COPY_SUITE: list[Attack] = [Attack(name=f"copy-{n}", family="copy", fn=fn, level=float(i), params={"random": True})
                            for i, (n, fn) in enumerate({**SINGLE, "combo": t_combo}.items())]
