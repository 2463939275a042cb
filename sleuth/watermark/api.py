"""File-level watermark API used by ``sleuth mark`` / ``sleuth verify`` and the scan analyzer.

``mark_file`` loads an image with :func:`sleuth.imageio.load_image`, marks its RGB pixels with
the chosen method, and writes it next to nothing else than ``out_dir`` (atomically), in the
same container format where Pillow can write it (JPEG at quality 95 / 4:4:4, PNG, WebP at 95,
TIFF; anything else becomes PNG), keeping alpha, EXIF (orientation reset to 1 because the
pixels are stored upright), ICC profile, XMP and PNG text chunks. A C2PA manifest is not
carried over: its hard binding would no longer match the marked pixels.

``verify_image`` runs detection for one or several keys and returns plain dicts; the key
never appears in them (only its position in the list).
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import SleuthError, UsageError
from ..imageio import LoadedImage, load_image
from ..util import atomic_path
from . import ecc
from .keys import parse_key
from .methods import get_method

DEFAULT_FPR = 1e-6
_SAVE_FORMATS = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "WEBP": ".webp", "TIFF": ".tif"}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    from .sleuthmark import luma

    return float(structural_similarity(luma(a), luma(b), data_range=255.0))


def _exif_upright(img: LoadedImage) -> bytes | None:
    if img.pil is None:
        return None
    try:
        exif = img.pil.getexif()
    except Exception:
        return None
    if not exif:
        return None
    if 0x0112 in exif:
        exif[0x0112] = 1
    try:
        return exif.tobytes()
    except Exception:
        return None


def encode_like(img: LoadedImage, rgb: np.ndarray) -> tuple[bytes, str]:
    """Encode marked pixels in the input's format with its alpha and metadata; returns (bytes, suffix)."""
    fmt = img.format if img.format in _SAVE_FORMATS else "PNG"
    if fmt == "MPO":
        fmt = "JPEG"
    info = img.pil.info if img.pil is not None else {}
    if img.alpha is not None and fmt != "JPEG":
        pil = Image.fromarray(np.dstack([rgb, img.alpha]), "RGBA")
    else:
        pil = Image.fromarray(rgb, "RGB")
    if img.mode in ("L", "LA", "1", "P") and np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
        pil = pil.convert("LA" if img.alpha is not None and fmt != "JPEG" else "L")
    kw: dict[str, Any] = {}
    exif = _exif_upright(img)
    if exif:
        kw["exif"] = exif
    if info.get("icc_profile"):
        kw["icc_profile"] = info["icc_profile"]
    if info.get("dpi"):
        kw["dpi"] = info["dpi"]
    xmp = info.get("xmp") or info.get("XML:com.adobe.xmp")
    if fmt == "JPEG":
        kw.update(quality=95, subsampling=0)
        if xmp:
            kw["xmp"] = xmp if isinstance(xmp, bytes) else str(xmp).encode()
    elif fmt == "WEBP":
        kw.update(quality=95, method=4)
        if xmp:
            kw["xmp"] = xmp if isinstance(xmp, bytes) else str(xmp).encode()
    elif fmt == "PNG":
        from PIL.PngImagePlugin import PngInfo

        text = getattr(img.pil, "text", None) or {}
        if text:
            pi = PngInfo()
            for k, v in text.items():
                pi.add_itxt(k, v) if not str(v).isascii() or k.startswith("XML:") else pi.add_text(k, v)
            kw["pnginfo"] = pi
    elif fmt == "TIFF":
        kw["compression"] = "tiff_lzw"
    buf = io.BytesIO()
    try:
        pil.save(buf, fmt, **kw)
    except (TypeError, ValueError):  # an older Pillow without some keyword: keep the pixels, drop that field
        kw.pop("xmp", None)
        buf = io.BytesIO()
        pil.save(buf, fmt, **kw)
    return buf.getvalue(), _SAVE_FORMATS.get(fmt, ".png")


def mark_file(src: str | os.PathLike, out_dir: str | os.PathLike, key, payload: bytes | None = None,
              method: str = "sleuth", strength: float = 1.0, max_pixels: int | None = None,
              bits: int = 64) -> dict[str, Any]:
    """Mark one file into ``out_dir``; returns {path, out, method, psnr, ssim, width, height, notes}.
    ``bits``: payload length of sleuth's mark (64 or 128; ``payload`` then has bits / 8 bytes)."""
    m = get_method(method, bits)
    img = load_image(src, max_pixels=max_pixels)
    try:
        marked = m.embed(img.rgb, key, payload, strength)
    except UsageError as exc:
        raise SleuthError(exc.reason, path=img.path) from None
    data, suffix = encode_like(img, marked)
    src_p = Path(src)
    name = src_p.name if src_p.suffix.lower() == suffix or (suffix == ".jpg" and src_p.suffix.lower() in (".jpeg", ".jpg")) \
        else src_p.stem + suffix
    dest = Path(out_dir) / name
    if dest.exists() and dest.resolve() == src_p.resolve():
        raise UsageError(f"{src}: --out would overwrite the input; choose another folder")
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)
    notes = list(img.notes)
    if img.format not in _SAVE_FORMATS:
        notes.append(f"{img.format} input written as PNG")
    if suffix == ".jpg":
        notes.append("PSNR/SSIM measured on the marked pixels before JPEG (quality 95) encoding")
    return {"path": str(src), "out": str(dest), "method": method, "psnr": round(psnr(img.rgb, marked), 2),
            "ssim": round(ssim(img.rgb, marked), 4), "width": img.width, "height": img.height, "error": None, "notes": notes}


def verify_image(img: LoadedImage, keys: list, method: str = "sleuth", fpr: float = DEFAULT_FPR,
                 bits: int = 64) -> dict[str, Any]:
    """Detect with each key; return the best result as a JSON-ready dict (no key material).
    ``bits``: the payload length sleuth's mark was embedded with (64 or 128)."""
    if not keys:
        raise UsageError("no key given (--key or SLEUTH_WATERMARK_KEY)")
    parsed = [parse_key(k) for k in keys]
    m = get_method(method, bits)
    best, best_i = None, -1
    for i, k in enumerate(parsed):
        try:
            r = m.detect(img.rgb, k, fpr=fpr)
        except UsageError as exc:
            raise SleuthError(exc.reason, path=img.path) from None
        if best is None or r.p_value < best.p_value:
            best, best_i = r, i
    assert best is not None
    n_tests = len(parsed)
    p = min(1.0, best.p_value * n_tests)  # several keys tried: Bonferroni over keys
    detected = p <= fpr
    msg = best.message if (detected and best.message is not None) else None
    out: dict[str, Any] = {
        "path": img.path, "error": None, "detected": bool(detected), "p_value": float(p), "fpr": fpr,
        "message": ecc.bytes_to_message(msg) if msg is not None else None,
        "message_hex": msg.hex() if msg is not None else None,
        "method": method, "score": round(float(best.score), 3),
        "bit_errors_corrected": best.corrected if detected else None,
        "key_index": best_i if detected else None,
    }
    if detected and method == "sleuth":
        out["geometry"] = best.details
    return out


def verify_file(path: str | os.PathLike, keys: list, method: str = "sleuth", fpr: float = DEFAULT_FPR,
                max_pixels: int | None = None, bits: int = 64) -> dict[str, Any]:
    img = load_image(path, max_pixels=max_pixels)
    return verify_image(img, keys, method, fpr, bits)
