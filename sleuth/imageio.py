"""Image loading for every analyzer.

Design
------
* One entry point, :func:`load_image`, takes a path, bytes, a file object or a PIL image
  and returns a :class:`LoadedImage`: the decoded pixels (RGB uint8, alpha kept apart),
  the *original bytes* (metadata and JPEG-table analyzers need them), the container
  format and notes about what loading did (GIF first frame, 16-bit reduced, CMYK
  converted, EXIF orientation applied...).
* Formats: whatever Pillow decodes (JPEG, PNG, WebP, GIF, TIFF, BMP, AVIF on Pillow >= 11.2)
  plus HEIC/HEIF through pillow-heif, registered lazily.
* Limits: a maximum pixel count (default 100 MP, ``SLEUTH_MAX_PIXELS`` or argument),
  checked from the header *before* decoding, and Pillow's decompression-bomb guard turned
  into a one-line :class:`~sleuth.errors.ImageLoadError`. Files larger than
  ``max_bytes`` (default 512 MiB) are refused before reading.
* Every failure is an ImageLoadError whose message names the file and the reason.
"""
from __future__ import annotations

import io
import os
import struct
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from .errors import ImageLoadError
from .util import sha256_bytes

#: defaults when neither the caller nor the settings (SLEUTH_MAX_PIXELS / SLEUTH_MAX_BYTES) say otherwise
DEFAULT_MAX_PIXELS = 100_000_000
DEFAULT_MAX_BYTES = 512 * 1024 * 1024

_HEIF_REGISTERED = False


def _register_plugins() -> None:
    global _HEIF_REGISTERED
    if _HEIF_REGISTERED:
        return
    _HEIF_REGISTERED = True
    try:  # HEIC/HEIF (and AVIF on older Pillow) through pillow-heif
        import pillow_heif

        pillow_heif.register_heif_opener()
        if not _pillow_has_avif():
            try:
                pillow_heif.register_avif_opener()
            except Exception:  # pragma: no cover - depends on build
                pass
    except ImportError:  # pragma: no cover - optional at runtime
        pass


def _pillow_has_avif() -> bool:
    from PIL import features

    try:
        return bool(features.check("avif"))
    except Exception:  # pragma: no cover
        return False


@dataclass
class LoadedImage:
    """A decoded image plus what analyzers need to know about its file."""

    rgb: np.ndarray  # HxWx3 uint8, orientation applied
    alpha: np.ndarray | None  # HxW uint8 or None
    data: bytes  # the original file bytes ("" for a PIL input)
    format: str  # container format as Pillow names it (JPEG, PNG, ...), or "RAW"
    path: str  # display name: the path, or "<bytes>"
    pil: Image.Image  # the opened (not orientation-corrected) image: info, exif, quantization
    notes: list[str] = field(default_factory=list)
    orientation: int = 1
    bit_depth: int = 8
    mode: str = "RGB"

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @cached_property
    def sha256(self) -> str:
        return sha256_bytes(self.data) if self.data else sha256_bytes(self.rgb.tobytes())

    @cached_property
    def gray(self) -> np.ndarray:
        import cv2

        return cv2.cvtColor(self.rgb, cv2.COLOR_RGB2GRAY)

    @property
    def is_jpeg(self) -> bool:
        return self.format in ("JPEG", "MPO")

    def to_pil(self) -> Image.Image:
        """RGB (or RGBA when alpha exists) PIL image with orientation applied."""
        if self.alpha is not None:
            return Image.fromarray(np.dstack([self.rgb, self.alpha]), "RGBA")
        return Image.fromarray(self.rgb, "RGB")


def _to_rgb_array(im: Image.Image, notes: list[str]) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Convert any Pillow mode to (RGB uint8, alpha uint8|None, bit depth)."""
    bit_depth = 8
    mode = im.mode
    alpha = None
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.float64)
        hi = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        bit_depth = 16 if hi > 255 else 8
        arr8 = np.clip(np.round(arr / hi * 255.0), 0, 255).astype(np.uint8)
        notes.append(f"{bit_depth}-bit greyscale reduced to 8 bits")
        return np.repeat(arr8[..., None], 3, axis=2), None, bit_depth
    if mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        scale = (hi - lo) or 1.0
        arr8 = np.clip((arr - lo) / scale * 255.0, 0, 255).astype(np.uint8)
        notes.append("floating-point image rescaled to 8 bits")
        return np.repeat(arr8[..., None], 3, axis=2), None, 32
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        arr = np.asarray(rgba)
        alpha = arr[..., 3].copy()
        return np.ascontiguousarray(arr[..., :3]), alpha, bit_depth
    if mode == "CMYK":
        notes.append("CMYK converted to RGB")
    elif mode == "P":
        notes.append("palette image expanded to RGB")
    elif mode in ("L", "1"):
        notes.append("greyscale image")
    elif mode not in ("RGB",):
        notes.append(f"mode {mode} converted to RGB")
    if mode.startswith("RGB;16") or mode in ("RGB;16", "BGR;16"):
        bit_depth = 16
    return np.ascontiguousarray(np.asarray(im.convert("RGB"))), alpha, bit_depth


def read_source(source: Any, max_bytes: int | None = None) -> tuple[bytes, str]:
    """Return (bytes, display name) for a path, bytes or a binary file object."""
    from .settings import get_settings

    max_bytes = int(max_bytes or get_settings().max_bytes)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > max_bytes:
            raise ImageLoadError(f"input is {len(data)} bytes, over the {max_bytes}-byte limit", "<bytes>")
        return data, "<bytes>"
    if hasattr(source, "read"):
        data = source.read(max_bytes + 1)
        name = str(getattr(source, "name", "<stream>"))
        if len(data) > max_bytes:
            raise ImageLoadError(f"input is over the {max_bytes}-byte limit", name)
        return data, name
    path = Path(source)
    name = str(source)
    try:
        if path.is_dir():
            raise ImageLoadError("is a directory, not an image file", name)
        size = path.stat().st_size
        if size > max_bytes:
            raise ImageLoadError(f"file is {size} bytes, over the {max_bytes}-byte limit", name)
        with open(path, "rb") as fh:
            data = fh.read()
    except ImageLoadError:
        raise
    except FileNotFoundError:
        raise ImageLoadError("no such file", name) from None
    except PermissionError:
        raise ImageLoadError("permission denied", name) from None
    except OSError as exc:
        raise ImageLoadError(f"cannot read file ({exc.strerror or exc})", name) from None
    return data, name


def load_image(
    source: Any,
    *,
    max_pixels: int | None = None,
    max_bytes: int | None = None,
    name: str | None = None,
) -> LoadedImage:
    """Decode ``source`` (path, bytes, file object or PIL image) into a :class:`LoadedImage`."""
    _register_plugins()
    from .settings import get_settings

    max_pixels = int(max_pixels or get_settings().max_pixels)
    if isinstance(source, Image.Image):
        im = source
        data = b""
        display = name or "<PIL image>"
    else:
        data, display = read_source(source, max_bytes)
        display = name or display
        if not data:
            raise ImageLoadError("empty file (0 bytes)", display)
        im = None
    notes: list[str] = []
    try:
        if im is None:
            # Pillow's guard: warns above MAX_IMAGE_PIXELS, raises DecompressionBombError above 2x.
            Image.MAX_IMAGE_PIXELS = max_pixels
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                im = Image.open(io.BytesIO(data))
        w, h = im.size
        if w <= 0 or h <= 0:
            raise ImageLoadError(f"invalid dimensions {w}x{h}", display)
        if w * h > max_pixels:
            raise ImageLoadError(
                f"image is {w}x{h} = {w * h / 1e6:.1f} MP, over the {max_pixels / 1e6:.0f} MP limit "
                "(raise it with --max-pixels or SLEUTH_MAX_PIXELS)",
                display,
            )
        fmt = (im.format or "RAW").upper()
        n_frames = getattr(im, "n_frames", 1) or 1
        if n_frames > 1:
            notes.append(f"{fmt} has {n_frames} frames; analysed the first")
            im.seek(0)
        # Allow large-but-permitted images past Pillow's own bomb guard, but never truncated data.
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.load()
        orientation = 1
        try:
            orientation = int(im.getexif().get(0x0112, 1) or 1)
        except Exception:
            notes.append("EXIF could not be parsed")
        oriented = ImageOps.exif_transpose(im) if orientation not in (0, 1) else im
        if orientation not in (0, 1):
            notes.append(f"EXIF orientation {orientation} applied")
        rgb, alpha, depth = _to_rgb_array(oriented, notes)
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageLoadError(f"decompression bomb refused: declared size is over twice the {max_pixels / 1e6:.0f} MP limit",
                             display) from None
    except UnidentifiedImageError:
        raise ImageLoadError("not an image, or a format sleuth cannot decode", display) from None
    except MemoryError:
        raise ImageLoadError("out of memory while decoding", display) from None
    except (OSError, SyntaxError, ValueError, EOFError, TypeError, IndexError, KeyError,
            struct.error, ZeroDivisionError, RuntimeError) as exc:
        msg = str(exc) or type(exc).__name__
        if "truncated" in msg.lower():
            msg = "truncated file: " + msg
        raise ImageLoadError(f"corrupt image ({msg})", display) from None
    return LoadedImage(
        rgb=rgb,
        alpha=alpha,
        data=data,
        format=fmt,
        path=display,
        pil=im,
        notes=notes,
        orientation=orientation,
        bit_depth=depth,
        mode=im.mode,
    )


def iter_image_paths(paths: list[str | os.PathLike], recursive: bool = False) -> tuple[list[str], list[tuple[str, str]]]:
    """Expand files and folders into a sorted list of files, following no directory twice.

    Returns (files, problems) where problems are (path, reason) pairs for inputs that do not
    exist or loop back on themselves. Folders contribute every regular file (a non-image
    inside a folder is reported by the loader, not silently skipped) unless it is hidden.
    """
    files: list[str] = []
    problems: list[tuple[str, str]] = []
    seen_dirs: set[tuple[int, int]] = set()

    def walk(d: Path) -> None:
        try:
            st = d.stat()
        except OSError as exc:
            problems.append((str(d), f"cannot read folder ({exc.strerror})"))
            return
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            problems.append((str(d), "directory loop (already visited); skipped"))
            return
        seen_dirs.add(key)
        try:
            entries = sorted(d.iterdir())
        except OSError as exc:
            problems.append((str(d), f"cannot list folder ({exc.strerror})"))
            return
        for e in entries:
            if e.name.startswith("."):
                continue
            if e.is_dir():
                if recursive:
                    walk(e)
            elif e.is_file():
                files.append(str(e))

    for p in paths:
        pp = Path(p)
        if pp.is_dir():
            walk(pp)
        elif pp.exists() or pp.is_symlink():
            files.append(str(pp))
        else:
            problems.append((str(pp), "no such file or folder"))
    return files, problems
