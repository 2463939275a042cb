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
* Limits (all in docs/limits.md): a maximum pixel count (default 100 MP, ``SLEUTH_MAX_PIXELS``
  or argument) checked from the header *before* decoding, with Pillow's decompression-bomb
  guard turned into a one-line :class:`~sleuth.errors.ImageLoadError`; a PNG whose bytes cannot
  hold its declared pixels (deflate's best ratio) and a JPEG with more than ``MAX_JPEG_SCANS``
  scans are refused before decoding; files larger than ``max_bytes`` (default 512 MiB) are
  refused before reading, and only regular files are read (``fstat`` on the opened
  descriptor: FIFOs, devices and sockets are refused, never read).
* ``lazy=True`` reads only the header; pixels are decoded on first access, so metadata-only
  analyzers (the fast tier) never decode a 100 MP image.
* :func:`walk_inputs` expands folders: regular files only, symbolic links followed within the
  scanned folder (``follow_links`` for the rest), loops and dangling links reported, every
  skipped entry listed.
* Every failure is an ImageLoadError whose message names the file and the reason.
"""
from __future__ import annotations

import errno
import io
import os
import stat
import warnings
from dataclasses import dataclass, field
from functools import cached_property
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
                pillow_heif.register_avif_opener()  # type: ignore[attr-defined]
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


class LoadedImage:
    """A decoded image plus what analyzers need to know about its file.

    Pixels (``rgb``, ``alpha``, ``bit_depth``) may be decoded lazily: :func:`load_image` with
    ``lazy=True`` reads only the header, and the first access to ``rgb`` decodes. A decode
    failure then raises :class:`~sleuth.errors.ImageLoadError` from that access and is kept in
    ``decode_error`` so the pipeline can report it as the file's error.
    """

    def __init__(self, rgb: np.ndarray | None = None, alpha: np.ndarray | None = None, data: bytes = b"",
                 format: str = "RAW", path: str = "<bytes>", pil: Image.Image | None = None,
                 notes: list[str] | None = None, orientation: int = 1, bit_depth: int = 8, mode: str = "RGB",
                 *, size: tuple[int, int] | None = None, decoder: Any = None):
        self._rgb, self._alpha, self._depth = rgb, alpha, bit_depth
        self._decoder = decoder if rgb is None else None
        self.decode_error: ImageLoadError | None = None
        self.data, self.format, self.path, self.pil = data, format, path, pil
        self.notes = notes if notes is not None else []
        self.orientation, self.mode = orientation, mode
        if rgb is not None:
            size = (int(rgb.shape[1]), int(rgb.shape[0]))
        self._size = size or (0, 0)

    def _decode(self) -> None:
        if self._decoder is None:
            return
        if self.decode_error is not None:
            raise self.decode_error
        try:
            self._rgb, self._alpha, self._depth = self._decoder()
        except ImageLoadError as exc:
            self.decode_error = exc
            raise
        self._decoder = None
        self._size = (int(self._rgb.shape[1]), int(self._rgb.shape[0]))

    @property
    def decoded(self) -> bool:
        """Whether the pixels have been decoded (always true for an eager load)."""
        return self._rgb is not None

    @property
    def rgb(self) -> np.ndarray:
        """HxWx3 uint8, orientation applied (decoded on first access when lazy)."""
        self._decode()
        assert self._rgb is not None
        return self._rgb

    @property
    def alpha(self) -> np.ndarray | None:
        """HxW uint8 or None."""
        self._decode()
        return self._alpha

    @property
    def bit_depth(self) -> int:
        self._decode()
        return self._depth

    @property
    def width(self) -> int:
        return int(self._size[0])

    @property
    def height(self) -> int:
        return int(self._size[1])

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
    if mode == "RGB":  # no intermediate copy: Pillow stores RGB in 4 bytes per pixel
        return np.ascontiguousarray(np.asarray(im)), alpha, bit_depth
    return np.ascontiguousarray(np.asarray(im.convert("RGB"))), alpha, bit_depth


_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))


def file_kind(mode: int) -> str:
    """What a non-regular ``st_mode`` is, in words ("a FIFO (named pipe)", "a character device"...)."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_source(source: Any, max_bytes: int | None = None) -> tuple[bytes, str]:
    """Return (bytes, display name) for a path, bytes or a binary file object.

    A path is opened non-blocking and checked with ``fstat`` on the opened descriptor (no
    race with a swap after the check): only a regular file is read, at most ``max_bytes + 1``
    bytes, so a FIFO, ``/dev/zero`` (or a link to it), a socket or a file growing while it is
    read gives a one-line error instead of a hang or an out-of-memory.
    """
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
    name = display_path(source)
    try:
        fd = os.open(source, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise ImageLoadError("no such file" + (" (dangling symbolic link)" if os.path.islink(source) else ""),
                             name) from None
    except PermissionError:
        raise ImageLoadError("permission denied", name) from None
    except IsADirectoryError:
        raise ImageLoadError("is a directory, not an image file", name) from None
    except OSError as exc:
        raise ImageLoadError(f"cannot open file ({exc.strerror or exc})", name) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ImageLoadError("is a directory, not an image file", name)
        if not stat.S_ISREG(st.st_mode):
            raise ImageLoadError(f"is {file_kind(st.st_mode)}, not a regular file; not read", name)
        if st.st_size > max_bytes:
            raise ImageLoadError(f"file is {st.st_size} bytes, over the {max_bytes}-byte limit", name)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise ImageLoadError(f"file grew past the {max_bytes}-byte limit while being read", name)
    except ImageLoadError:
        raise
    except OSError as exc:
        raise ImageLoadError(f"cannot read file ({exc.strerror or exc})", name) from None
    finally:
        os.close(fd)
    return data, name


def display_path(p: Any) -> str:
    """A path as text that every writer can encode: undecodable bytes become U+FFFD.

    The exact bytes are kept by :func:`path_bytes_hex` (the Report's ``path_bytes_hex``)."""
    text = os.fsdecode(p) if isinstance(p, (str, bytes, os.PathLike)) else str(p)
    if any("\udc80" <= c <= "\udcff" for c in text):
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text


def path_bytes_hex(p: Any) -> str | None:
    """Hex of a path's bytes when they are not valid UTF-8 (lossless), else None."""
    if not isinstance(p, (str, bytes, os.PathLike)):
        return None
    raw = os.fsencode(p)
    try:
        raw.decode("utf-8")
        return None
    except UnicodeDecodeError:
        return raw.hex()


#: a progressive JPEG with more scans than this is refused before decoding (libjpeg decodes
#: the whole image once per scan; ordinary encoders write at most a few dozen)
MAX_JPEG_SCANS = 100
#: deflate's best compression ratio (RFC 1951: 258-byte matches in ~2 bits): a PNG smaller than
#: its declared pixel rows / this ratio cannot be complete
DEFLATE_MAX_RATIO = 1032


def _jpeg_scans(data: bytes) -> int:
    """Upper bound on the SOS markers of a JPEG (``FF DA`` cannot occur in stuffed entropy data)."""
    return data.count(b"\xff\xda")


def _check_header(im: Image.Image, data: bytes, display: str, max_pixels: int, notes: list[str]) -> str:
    """Every check that needs only the header: dimensions, pixel cap, JPEG scans, frames."""
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
    if fmt == "PNG" and data:
        # deflate cannot compress better than ~1032:1; a row is at least 1 filter byte + w/8
        least = h * (1 + -(-w // 8)) // DEFLATE_MAX_RATIO
        if len(data) < least:
            raise ImageLoadError(f"PNG declares {w}x{h} pixels but its {len(data)} bytes cannot hold them "
                                 f"(at least {least} needed): truncated, or a decompression bomb; not decoded", display)
    if fmt in ("JPEG", "MPO") and data:
        scans = _jpeg_scans(data)
        if scans > MAX_JPEG_SCANS:
            raise ImageLoadError(f"JPEG has {scans} scans, over the {MAX_JPEG_SCANS}-scan limit "
                                 "(a progressive-scan decoding bomb); not decoded", display)
    if getattr(im, "is_animated", False):
        notes.append(f"{fmt} has several frames; analysed the first")
        im.seek(0)
    return fmt


def _png_exif_chunk(data: bytes) -> bytes:
    """The eXIf chunk of PNG bytes (b"" when none), found by jumping from chunk to chunk."""
    pos, n = 8, len(data)
    while pos + 8 <= n:
        length = int.from_bytes(data[pos:pos + 4], "big")
        ctype = data[pos + 4:pos + 8]
        if ctype == b"eXIf":
            return b"Exif\x00\x00" + data[pos + 8:pos + 8 + length]
        if ctype == b"IEND":
            break
        pos += 12 + length
    return b""


def _decoder(im: Image.Image, display: str, max_pixels: int, notes: list[str]):
    """A function that decodes ``im`` into (rgb, alpha, bit depth) with one-line errors."""
    def decode():
        try:
            ImageFile.LOAD_TRUNCATED_IMAGES = False
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                im.load()
            oriented = ImageOps.exif_transpose(im) if orientation[0] not in (0, 1) else im
            return _to_rgb_array(oriented, notes)
        except ImageLoadError:
            raise
        except Exception as exc:
            raise _decode_error(exc, display, max_pixels) from None

    orientation = [1]
    fp = getattr(im, "fp", None)
    if (im.format or "") == "PNG" and "exif" not in im.info and fp is not None:
        # Pillow's PNG getexif() decodes every pixel to look for eXIf after IDAT; find it ourselves
        try:
            fp.seek(0)
            im.info["exif"] = _png_exif_chunk(fp.read())
        except (OSError, ValueError):
            pass
    try:
        orientation[0] = int(im.getexif().get(0x0112, 1) or 1)
    except Exception:
        notes.append("EXIF could not be parsed")
    if orientation[0] not in (0, 1, 2, 3, 4, 5, 6, 7, 8):
        orientation[0] = 1
    if orientation[0] not in (0, 1):
        notes.append(f"EXIF orientation {orientation[0]} applied")
    return decode, orientation[0]


def _decode_error(exc: BaseException, display: str, max_pixels: int) -> ImageLoadError:
    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return ImageLoadError("decompression bomb refused: declared size is over twice the "
                              f"{max_pixels / 1e6:.0f} MP limit", display)
    if isinstance(exc, UnidentifiedImageError):
        return ImageLoadError("not an image, or a format sleuth cannot decode", display)
    if isinstance(exc, MemoryError):
        return ImageLoadError("out of memory while decoding", display)
    if isinstance(exc, RecursionError):
        return ImageLoadError("corrupt image (structure nested too deeply)", display)
    msg = " ".join((str(exc) or type(exc).__name__).split())[:300]
    if "truncated" in msg.lower():
        msg = "truncated file: " + msg
    return ImageLoadError(f"corrupt image ({msg})", display)


def load_image(
    source: Any,
    *,
    max_pixels: int | None = None,
    max_bytes: int | None = None,
    name: str | None = None,
    lazy: bool = False,
) -> LoadedImage:
    """Decode ``source`` (path, bytes, file object or PIL image) into a :class:`LoadedImage`.

    Parameters
    ----------
    source : path, bytes, file object or PIL image
        What to load; a path must name a regular file.
    max_pixels : int, optional
        Refuse images whose *header* declares more pixels (default ``DEFAULT_MAX_PIXELS``).
    max_bytes : int
        Refuse files larger than this before reading them.
    name : str, optional
        Display name used in errors and reports.
    lazy : bool
        Read only the header now; decode the pixels on first access to ``rgb``/``alpha``
        (metadata-only analyzers then never decode).

    Returns
    -------
    LoadedImage
    """
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
        fmt = _check_header(im, data, display, max_pixels, notes)
        decode, orientation = _decoder(im, display, max_pixels, notes)
    except ImageLoadError:
        raise
    except Exception as exc:
        raise _decode_error(exc, display, max_pixels) from None
    w, h = im.size
    size = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    img = LoadedImage(data=data, format=fmt, path=display, pil=im, notes=notes, orientation=orientation,
                      mode=im.mode, size=size, decoder=decode)
    if not lazy:
        img.rgb  # noqa: B018 - decode now: errors surface from load_image itself
    return img


@dataclass
class InputSet:
    """Files to analyse and every entry that was not, each with its reason.

    ``problems`` are errors (they make a batch exit 1): missing inputs, FIFOs, devices and
    sockets, dangling links, directory loops, unreadable folders. ``skipped`` are entries left
    out on purpose (hidden names, symbolic links leaving the scanned folder without
    ``follow_links``); they are counted and listed, never dropped silently.
    """

    files: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _inside(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives
        return False


def walk_inputs(paths: list[str | os.PathLike], recursive: bool = False, follow_links: bool = False) -> InputSet:
    """Expand files and folders into a sorted list of regular files, following no directory twice.

    Parameters
    ----------
    paths : list of path
        Files and folders as given by the user. A file named directly is used even through a
        symbolic link, but only when it resolves to a regular file.
    recursive : bool
        Descend into sub-folders.
    follow_links : bool
        Follow symbolic links inside a folder that lead outside that folder (default: such
        links are skipped and listed).

    Returns
    -------
    InputSet
        ``files`` in walk order plus ``problems`` and ``skipped`` (path, reason) pairs.
    """
    out = InputSet()
    seen_dirs: set[tuple[int, int]] = set()

    def classify(p: str, root: str | None) -> str | None:
        """'file', 'dir' or None (recorded as a problem or a skip)."""
        try:
            lst = os.lstat(p)
        except OSError as exc:
            out.problems.append((display_path(p), f"cannot read ({exc.strerror or exc})"))
            return None
        is_link = stat.S_ISLNK(lst.st_mode)
        try:
            st = os.stat(p)
        except OSError as exc:
            why = "symbolic link loop" if exc.errno == errno.ELOOP else (
                "dangling symbolic link" if is_link else f"cannot read ({exc.strerror or exc})")
            out.problems.append((display_path(p), f"{why}; not read"))
            return None
        if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
            via = f" (through a symbolic link to {display_path(os.path.realpath(p))})" if is_link else ""
            out.problems.append((display_path(p), f"is {file_kind(st.st_mode)}{via}, not a regular file; not read"))
            return None
        if is_link and root is not None and not follow_links and not _inside(os.path.realpath(p), root):
            out.skipped.append((display_path(p), f"symbolic link to {display_path(os.path.realpath(p))}, "
                                                 "outside the scanned folder (use --follow-links); skipped"))
            return None
        return "dir" if stat.S_ISDIR(st.st_mode) else "file"

    def walk(d: str, root: str) -> None:
        st = os.stat(d)
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs:
            out.problems.append((display_path(d), "directory loop (already visited); skipped"))
            return
        seen_dirs.add(key)
        try:
            entries = sorted(os.listdir(d))
        except OSError as exc:
            out.problems.append((display_path(d), f"cannot list folder ({exc.strerror or exc})"))
            return
        for name in entries:
            e = os.path.join(d, name)
            if str(name).startswith("."):
                out.skipped.append((display_path(e), "hidden; skipped"))
                continue
            kind = classify(e, root)
            if kind == "dir":
                if recursive:
                    walk(e, root)
                else:
                    out.skipped.append((display_path(e), "folder (use -r to descend); skipped"))
            elif kind == "file":
                out.files.append(e)

    for p in paths:
        p = os.fspath(p)
        kind = classify(p, None)
        if kind == "dir":
            walk(p, os.path.realpath(p))
        elif kind == "file":
            out.files.append(p)
        elif not os.path.lexists(p) and out.problems and out.problems[-1][0] == display_path(p):
            out.problems[-1] = (display_path(p), "no such file or folder")
    return out


def iter_image_paths(paths: list[str | os.PathLike], recursive: bool = False,
                     follow_links: bool = False) -> tuple[list[str], list[tuple[str, str]]]:
    """Expand files and folders into (files, problems); see :func:`walk_inputs`.

    Folders contribute every regular file (a non-image inside a folder is reported by the
    loader, not silently skipped) unless it is hidden; FIFOs, devices, sockets, dangling links
    and loops are problems.
    """
    res = walk_inputs(paths, recursive, follow_links)
    return res.files, res.problems
