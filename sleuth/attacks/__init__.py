"""The shared attack suite: deterministic, seeded image transforms that record what they did.

Every benchmark in sleuth (watermark, copy detection, forensics, AI-generated detection) uses
this one suite, so "robust to X" means the same X everywhere.

Design
------
* An :class:`Attack` is a name, a family (for robustness curves), a numeric ``level`` (the
  x-axis of that family's curve), its parameters and a function
  ``fn(img: HxWx3 uint8 RGB, rng: np.random.Generator) -> HxWx3 uint8 RGB``.
* :func:`apply` runs one attack with a generator seeded from ``(seed, crc32(name))``, so a
  given (attack, seed) always produces the same bytes, and returns ``(out, record)`` where
  ``record`` (AugLy style) holds the name, family, parameters, input/output shapes and every
  random choice the attack made (crop offsets, screenshot scale, ...).
* Resampling is Pillow's bicubic with antialiasing (what most web pipelines do); JPEG/WebP go
  through Pillow at the stated quality; rotations are bicubic, either keeping the whole
  rotated image on a black canvas (``rotN``) or cropping the largest axis-aligned rectangle
  inside it (``rotN_crop``, AugLy's behaviour).
* Combinations are chains of the single attacks, recorded step by step.

The suite (``SUITE``, ordered) covers what issue 4 lists: JPEG 90/75/50, WebP 80, resize
0.5/0.75/1.5 and down-then-up, crops keeping 90/75/50 % of each side (centre and off-centre),
rotations of +-5 and +-15 degrees with and without crop, flip, Gaussian blur (sigma 1, 2),
Gaussian noise (sigma 5, 10), brightness, contrast, saturation, gamma, screenshot
simulations (rescale + shift + re-encode; rescale + a flat border of 4-15 % per side +
re-encode), aspect-ratio changes (width x 0.9, x 1.2), perspective (camera tilt: corners
moved inwards by up to 3 % / 6 %) and 2-3 step combinations.

Usage::

    from sleuth.attacks import SUITE, apply, families
    out, rec = apply("jpeg75", rgb, seed=3)
"""
from __future__ import annotations

import contextvars
import io
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance

AttackFn = Callable[[np.ndarray, np.random.Generator], np.ndarray]

_NOTES: contextvars.ContextVar[dict | None] = contextvars.ContextVar("sleuth_attack_notes", default=None)


def _note(**kw: Any) -> None:
    """Record a random choice made by the running attack (goes into ``record['choices']``)."""
    d = _NOTES.get()
    if d is not None:
        d.update({k: (v.item() if isinstance(v, np.generic) else v) for k, v in kw.items()})


@dataclass(frozen=True)
class Attack:
    name: str
    family: str
    fn: AttackFn
    params: dict[str, Any] = field(default_factory=dict)
    level: float = 0.0  # x-axis of the family's robustness curve (quality, factor, degrees...)

    def __call__(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.fn(img, rng)


# ----------------------------------------------------------------------------- primitives

def _pil(img: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(img), "RGB")


def _arr(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def encode_decode(img: np.ndarray, fmt: str, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    kw: dict[str, Any] = {"quality": int(quality)}
    if fmt == "WEBP":
        kw["method"] = 4
    _pil(img).save(buf, fmt, **kw)
    buf.seek(0)
    return _arr(Image.open(buf))


def resize(img: np.ndarray, factor: float | tuple[float, float]) -> np.ndarray:
    fx, fy = (factor, factor) if isinstance(factor, (int, float, np.number)) else factor
    h, w = img.shape[:2]
    size = (max(1, int(round(w * fx))), max(1, int(round(h * fy))))
    return _arr(_pil(img).resize(size, Image.Resampling.BICUBIC))


def resize_to(img: np.ndarray, w: int, h: int) -> np.ndarray:
    return _arr(_pil(img).resize((int(w), int(h)), Image.Resampling.BICUBIC))


def crop_frac(img: np.ndarray, keep: float, rng: np.random.Generator | None = None, centre: bool = True) -> np.ndarray:
    """Keep ``keep`` of each side; centred, or at a seeded random (off-centre) position."""
    h, w = img.shape[:2]
    ch, cw = max(1, int(round(h * keep))), max(1, int(round(w * keep)))
    if centre or rng is None:
        y0, x0 = (h - ch) // 2, (w - cw) // 2
    else:  # off-centre: a random corner-biased position (never the exact centre)
        y0 = int(rng.integers(0, h - ch + 1))
        x0 = int(rng.integers(0, w - cw + 1))
    _note(x0=x0, y0=y0, width=cw, height=ch)
    return img[y0:y0 + ch, x0:x0 + cw].copy()


def _largest_rotated_rect(w: int, h: int, angle_deg: float) -> tuple[int, int]:
    """Width and height of the largest axis-aligned rectangle inside a w x h rectangle rotated by angle."""
    a = math.radians(abs(angle_deg)) % math.pi
    if a > math.pi / 2:
        a = math.pi - a
    if w <= 0 or h <= 0:
        return 0, 0
    long_side, short_side = (w, h) if w >= h else (h, w)
    sin_a, cos_a = abs(math.sin(a)), abs(math.cos(a))
    if short_side <= 2.0 * sin_a * cos_a * long_side or abs(sin_a - cos_a) < 1e-10:
        x = 0.5 * short_side
        wr, hr = (x / sin_a, x / cos_a) if w >= h else (x / cos_a, x / sin_a)
    else:
        cos_2a = cos_a * cos_a - sin_a * sin_a
        wr, hr = (w * cos_a - h * sin_a) / cos_2a, (h * cos_a - w * sin_a) / cos_2a
    return int(wr), int(hr)


def rotate(img: np.ndarray, degrees: float, crop: bool = False) -> np.ndarray:
    """Rotate counter-clockwise. ``crop=False``: whole image on a black, enlarged canvas;
    ``crop=True``: the largest axis-aligned rectangle that holds only image pixels."""
    h, w = img.shape[:2]
    if crop:
        out = _arr(_pil(img).rotate(degrees, resample=Image.Resampling.BICUBIC, expand=False))
        cw, ch = _largest_rotated_rect(w, h, degrees)
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        return out[y0:y0 + ch, x0:x0 + cw].copy()
    return _arr(_pil(img).rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True))


def flip(img: np.ndarray) -> np.ndarray:
    return img[:, ::-1].copy()


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def gaussian_noise(img: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    noisy = img.astype(np.float32) + rng.normal(0.0, sigma, img.shape).astype(np.float32)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def enhance(img: np.ndarray, kind: str, factor: float) -> np.ndarray:
    cls = {"brightness": ImageEnhance.Brightness, "contrast": ImageEnhance.Contrast,
           "saturation": ImageEnhance.Color}[kind]
    return _arr(cls(_pil(img)).enhance(factor))


def gamma(img: np.ndarray, g: float) -> np.ndarray:
    lut = np.clip(np.round(255.0 * (np.arange(256) / 255.0) ** g), 0, 255).astype(np.uint8)
    return lut[img]


def screenshot(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Screen capture: display rescale, a few pixels of shift (capture window offset), re-encode."""
    scale = float(rng.uniform(0.7, 1.25))
    dx, dy = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    quality = int(rng.integers(80, 96))
    _note(scale=round(scale, 4), shift_x=dx, shift_y=dy, jpeg_quality=quality)
    out = resize(img, scale)
    out = out[dy:, dx:]
    return encode_decode(out, "JPEG", quality)


def _perspective_coeffs(src: np.ndarray, dst: np.ndarray) -> list[float]:
    """Pillow's 8 PERSPECTIVE coefficients mapping output points ``dst`` to input points ``src``."""
    a = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    return [float(c) for c in np.linalg.solve(np.asarray(a, float), src.reshape(-1).astype(float))]


def perspective(img: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """A camera-tilt warp: each corner moves inwards by a seeded random fraction (up to
    ``strength``) of the width and height; the same canvas, black outside the warped image."""
    h, w = img.shape[:2]
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)
    frac = rng.uniform(0.0, strength, (4, 2))
    sign = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]], float)
    dst = src + sign * frac * np.array([w, h])
    _note(corners=[[round(float(x), 1), round(float(y), 1)] for x, y in dst])
    out = _pil(img).transform((w, h), Image.Transform.PERSPECTIVE, _perspective_coeffs(src, dst),
                              resample=Image.Resampling.BICUBIC)
    return _arr(out)


def screenshot_border(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A screen capture of an image shown inside an application window: display rescale, a
    flat border of random width on each side (window chrome, page background), re-encode."""
    scale = float(rng.uniform(0.7, 1.25))
    out = resize(img, scale)
    h, w = out.shape[:2]
    top, bottom = (int(v) for v in rng.integers(int(0.04 * h) + 1, int(0.15 * h) + 2, 2))
    left, right = (int(v) for v in rng.integers(int(0.04 * w) + 1, int(0.15 * w) + 2, 2))
    colour = rng.integers(0, 256, 3).astype(np.uint8)
    quality = int(rng.integers(80, 96))
    _note(scale=round(scale, 4), border=[top, right, bottom, left], colour=colour.tolist(), jpeg_quality=quality)
    canvas = np.empty((h + top + bottom, w + left + right, 3), np.uint8)
    canvas[:] = colour
    canvas[top:top + h, left:left + w] = out
    return encode_decode(canvas, "JPEG", quality)


# ----------------------------------------------------------------------------- the suite

def _a(name: str, family: str, fn: Callable[..., np.ndarray], level: float, **params: Any) -> Attack:
    # fn is an AttackFn; Callable[...] because the suite's lambdas bind loop values as default
    # arguments (``lambda im, r, q=q: ...``), which mypy cannot infer against a fixed signature
    return Attack(name=name, family=family, fn=fn, params=params, level=float(level))


def chain(name: str, *steps: Attack, level: float = 0.0) -> Attack:
    """A combination: the steps applied in order, each with its own sub-generator.

    Parameters
    ----------
    name : str
        Name of the combined attack.
    *steps : Attack
        The attacks, applied first to last; each step draws its own generator from the caller's.
    level : float
        The combination's x-axis value on the ``combo`` family's curve.

    Returns
    -------
    Attack
        Family ``combo``; ``params["steps"]`` lists each step's name and parameters, and the record's
        choices hold each step's random choices under ``"step<i>:<step name>"``.
    """

    def fn(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        notes = _NOTES.get()
        for i, st in enumerate(steps):
            sub: dict = {}
            tok = _NOTES.set(sub)
            try:
                img = st.fn(img, np.random.default_rng(rng.integers(0, 2**63)))
            finally:
                _NOTES.reset(tok)
            if notes is not None and sub:
                notes[f"step{i}:{st.name}"] = sub
        return img

    return Attack(name=name, family="combo", fn=fn, level=level,
                  params={"steps": [{"name": s.name, **s.params} for s in steps]})


def _build() -> list[Attack]:
    s: list[Attack] = [_a("none", "none", lambda im, r: im.copy(), 0)]
    for q in (90, 75, 50):
        s.append(_a(f"jpeg{q}", "jpeg", lambda im, r, q=q: encode_decode(im, "JPEG", q), q, quality=q))
    s.append(_a("webp80", "webp", lambda im, r: encode_decode(im, "WEBP", 80), 80, quality=80))
    for f in (0.5, 0.75, 1.5):
        s.append(_a(f"resize{f:g}", "resize", lambda im, r, f=f: resize(im, f), f, factor=f))
    s.append(_a("resize0.5_up", "resize", lambda im, r: resize_to(resize(im, 0.5), im.shape[1], im.shape[0]),
                0.5, factor=0.5, back_up=True))
    for k in (90, 75, 50):
        s.append(_a(f"crop{k}", "crop", lambda im, r, k=k: crop_frac(im, k / 100), k, keep=k / 100, position="centre"))
        s.append(_a(f"crop{k}_off", "crop", lambda im, r, k=k: crop_frac(im, k / 100, r, centre=False), k,
                    keep=k / 100, position="random"))
    for d in (5, -5, 15, -15):
        s.append(_a(f"rot{d}", "rotate", lambda im, r, d=d: rotate(im, d, crop=False), abs(d), degrees=d, crop=False))
        s.append(_a(f"rot{d}_crop", "rotate", lambda im, r, d=d: rotate(im, d, crop=True), abs(d), degrees=d, crop=True))
    s.append(_a("flip", "flip", lambda im, r: flip(im), 1, direction="horizontal"))
    for sg in (1, 2):
        s.append(_a(f"blur{sg}", "blur", lambda im, r, sg=sg: gaussian_blur(im, sg), sg, sigma=sg))
    for sg in (5, 10):
        s.append(_a(f"noise{sg}", "noise", lambda im, r, sg=sg: gaussian_noise(im, sg, r), sg, sigma=sg))
    for kind, facs in (("brightness", (0.7, 1.3)), ("contrast", (0.7, 1.5)), ("saturation", (0.5, 1.5))):
        for f in facs:
            s.append(_a(f"{kind}{f:g}", kind, lambda im, r, kind=kind, f=f: enhance(im, kind, f), f, factor=f))
    for g in (0.7, 1.4):
        s.append(_a(f"gamma{g:g}", "gamma", lambda im, r, g=g: gamma(im, g), g, gamma=g))
    s.append(_a("screenshot", "screenshot", screenshot, 1, scale=(0.7, 1.25), shift=(1, 8), jpeg_quality=(80, 95)))
    s.append(_a("screenshot_border", "screenshot", screenshot_border, 2, scale=(0.7, 1.25), border=(0.04, 0.15),
                jpeg_quality=(80, 95)))
    for f in (0.9, 1.2):
        s.append(_a(f"aspect{f:g}", "aspect", lambda im, r, f=f: resize(im, (f, 1.0)), f, width_factor=f))
    for st in (0.03, 0.06):
        s.append(_a(f"perspective{round(st * 100)}", "perspective", lambda im, r, st=st: perspective(im, st, r),
                    st * 100, corner_shift=st))
    by = {a.name: a for a in s}
    s += [
        chain("resize0.75+jpeg75", by["resize0.75"], by["jpeg75"], level=2),
        chain("crop75_off+jpeg75", by["crop75_off"], by["jpeg75"], level=2),
        chain("rot5_crop+jpeg90", by["rot5_crop"], by["jpeg90"], level=2),
        chain("noise5+jpeg75", by["noise5"], by["jpeg75"], level=2),
        chain("crop90_off+resize0.75+webp80", by["crop90_off"], by["resize0.75"], by["webp80"], level=3),
        chain("resize0.5+brightness1.3+jpeg75", by["resize0.5"], by["brightness1.3"], by["jpeg75"], level=3),
        chain("aspect0.9+jpeg75", by["aspect0.9"], by["jpeg75"], level=2),
    ]
    return s


SUITE: list[Attack] = _build()
_BY_NAME: dict[str, Attack] = {a.name: a for a in SUITE}


def _all() -> dict[str, Attack]:
    """The robustness suite plus the copy-detection family (:mod:`sleuth.attacks.copy`)."""
    if not any(n.startswith("copy-") for n in _BY_NAME):
        from .copy import COPY_SUITE

        _BY_NAME.update({a.name: a for a in COPY_SUITE})
    return _BY_NAME


def names() -> list[str]:
    """Names of the robustness suite's attacks.

    Returns
    -------
    list of str
        In suite order (the copy-detection family, ``copy-*``, is not part of the suite; see :func:`get`).
    """
    return [a.name for a in SUITE]


def get(name: str) -> Attack:
    """The attack called ``name`` (the suite's names, or ``copy-<family>``).

    Parameters
    ----------
    name : str
        A name from :func:`names`, or a copy-detection attack ``copy-<family>``.

    Returns
    -------
    Attack
        The attack.

    Raises
    ------
    KeyError
        When ``name`` is unknown (the message lists the known names).
    """
    by = _all()
    try:
        return by[name]
    except KeyError:
        raise KeyError(f"unknown attack '{name}'; known: {', '.join(by)}") from None


def families() -> dict[str, list[str]]:
    """The robustness suite's attacks grouped by family.

    Returns
    -------
    dict of str to list of str
        Family name -> attack names in suite order (curves sort them by ``level``).
    """
    out: dict[str, list[str]] = {}
    for a in SUITE:
        out.setdefault(a.family, []).append(a.name)
    return out


def _rng_for(name: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(name.encode())])


def apply(attack: str | Attack, img: np.ndarray, seed: int = 0, *, rng: np.random.Generator | None = None,
          backgrounds: list[np.ndarray] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Run one attack on an RGB uint8 image and record what it did.

    Parameters
    ----------
    attack : str or Attack
        A name from :func:`names` (or ``copy-<family>``), or an :class:`Attack`.
    img : ndarray
        HxWx3 uint8 RGB.
    seed : int
        Seeds the attack's generator together with its name (deterministic per seed).
    rng : numpy.random.Generator, optional
        Use this generator instead (a benchmark drawing many random attacks from one stream).
    backgrounds : list of ndarray, optional
        Other photos, for attacks that paste the image onto one (``copy-overlay-bg``).

    Returns
    -------
    out : ndarray
        The attacked image (HxWx3 uint8).
    record : dict
        Name, family, level, parameters, seed, input/output shapes and the random choices made.
    """
    atk = get(attack) if isinstance(attack, str) else attack
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"attack input must be HxWx3 uint8 RGB, got {img.shape} {img.dtype}")
    notes: dict[str, Any] = {}
    tok = _NOTES.set(notes)
    from .copy import BACKGROUNDS

    bg_tok = BACKGROUNDS.set(tuple(backgrounds or ()))
    try:
        out = atk.fn(img, rng if rng is not None else _rng_for(atk.name, seed))
    finally:
        _NOTES.reset(tok)
        BACKGROUNDS.reset(bg_tok)
    record = {"name": atk.name, "family": atk.family, "level": atk.level, "params": dict(atk.params),
              "seed": int(seed), "in_shape": list(img.shape), "out_shape": list(out.shape)}
    if notes:
        record["choices"] = notes
    return out, record


__all__ = ["Attack", "SUITE", "apply", "chain", "families", "get", "names"]
