"""A deterministic hostile-input corpus: the nine cases of issue 11 and seeded mutations.

Used by the tests (``scale="small"``: a few dozen files, each decoded in well under a second by
a correct reader) and by ``bench/hostile.py`` (``scale="full"``: the cases at the sizes the
issue reports plus at least 2,000 mutated files). Every file is produced from a seed; nothing
is downloaded; the files are byte-identical from run to run except the mutations of the
C2PA-signed seed (its throw-away key and signature are made fresh each time), so counts of
one-line errors over the mutated files vary by about 1%. ``make_corpus`` returns one :class:`Case` per file naming the case it
exercises, so a report can be traced back to the hostile construction that produced it.

Cases
-----
1. ``regex-a1111`` / ``regex-xmp-li`` / ``regex-xmp-creator``: texts that sent the old
   backtracking parsers quadratic.
2. ``progressive-bomb``: a progressive JPEG whose last scan is repeated thousands of times.
3. ``pixel-bomb``: PNGs that declare huge dimensions with tiny (or truncated) data.
4. (``special`` files are made by the caller: FIFOs, device links, loops need a file system.)
5. ``names``: file names with Rich markup, HTML and invalid UTF-8.
6. ``tiny``: 1-pixel-wide and 1-pixel-high images.
7. (worker kills are driven by the caller.)
8. (index corruption is driven by the caller.)
9. ``containers``: clean BMP, ICO, PCX, TGA, SGI, PPM, QOI-less formats Pillow writes, plus
   ``deep-json`` (JSON nested 200,000 deep in a ComfyUI chunk) and ``warning`` (a TIFF
   whose EXIF makes Pillow warn).
``mutated``: bit flips, truncations, insertions and zeroed runs of valid seeds.
"""
from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin


@dataclass
class Case:
    path: str
    case: str
    note: str = ""


def _png_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body) & 0xFFFFFFFF)


def _rgb(h: int, w: int, seed: int) -> np.ndarray:
    from ..examples import photo_like

    return photo_like(h, w, seed)


def _save(arr_or_im, fmt: str, **kw) -> bytes:
    im = arr_or_im if isinstance(arr_or_im, Image.Image) else Image.fromarray(arr_or_im)
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def a1111_regex_png(n: int = 200_000, seed: int = 0) -> bytes:
    """Case 1: ``parameters`` text ``"p\\nSteps: 1, " + "a" * n``."""
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "p\nSteps: 1, " + "a" * n)
    return _save(_rgb(64, 64, seed), "PNG", pnginfo=info)


def xmp_png(body: str, seed: int = 0) -> bytes:
    """A PNG carrying ``body`` as its XMP packet (iTXt ``XML:com.adobe.xmp``; JPEG APP1 holds < 64 KB)."""
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", body)
    return _save(_rgb(64, 64, seed), "PNG", pnginfo=info)


def xmp_unclosed_li(n: int = 50_000) -> str:
    """Case 1: ``n`` unclosed ``<rdf:li`` inside ``xmpMM:History``."""
    return ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"><xmpMM:History><rdf:Seq>'
            + "<rdf:li " * n)


def xmp_unclosed_creator(n: int = 23_000) -> str:
    """Case 1: ``n`` unclosed ``<xmp:CreatorTool>``."""
    return ('<x:xmpmeta xmlns:x="adobe:ns:meta/" xmlns:xmp="http://ns.adobe.com/xap/1.0/">'
            + "<xmp:CreatorTool>" * n)


def progressive_bomb(size: int = 8000, repeats: int = 5000) -> bytes:
    """Case 2: a flat progressive JPEG whose last scan is repeated ``repeats`` times."""
    data = _save(Image.new("RGB", (size, size), (120, 120, 120)), "JPEG", quality=75, progressive=True)
    last = data.rfind(b"\xff\xda")
    eoi = data.rfind(b"\xff\xd9")
    return data[:eoi] + data[last:eoi] * repeats + b"\xff\xd9"


def png_declaring(w: int, h: int, idat: bytes = b"") -> bytes:
    """Case 3: a PNG whose IHDR declares ``w`` x ``h`` RGB pixels and holds only ``idat``."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    body = zlib.compress(idat or b"\x00" * 1024, 9)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", body) + _png_chunk(b"IEND", b"")


def flat_png(w: int, h: int) -> bytes:
    """Case 3: a real, complete, flat PNG of ``w`` x ``h`` (compresses about 1000:1)."""
    raw_row = b"\x00" + b"\x80" * (3 * w)
    comp = zlib.compressobj(9)
    parts = [comp.compress(raw_row) for _ in range(h)] + [comp.flush()]
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", b"".join(parts)) + _png_chunk(b"IEND", b"")


def deep_json_png(depth: int = 200_000) -> bytes:
    """Case 9: ComfyUI ``prompt`` JSON nested ``depth`` deep."""
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", "[" * depth + "]" * depth)
    info.add_text("workflow", "{}")
    return _save(_rgb(64, 64, 1), "PNG", pnginfo=info)


def container_files(seed: int = 0) -> dict[str, bytes]:
    """Case 9: clean files in containers C2PA defines no embedding for."""
    rgb = _rgb(48, 64, seed)
    out = {}
    for ext, fmt in (("bmp", "BMP"), ("ico", "ICO"), ("pcx", "PCX"), ("tga", "TGA"), ("sgi", "SGI"),
                     ("ppm", "PPM"), ("dds", "DDS"), ("qoi", "QOI"), ("jp2", "JPEG2000")):
        try:
            out[ext] = _save(rgb, fmt)
        except (KeyError, OSError, ValueError):
            continue  # encoder not in this Pillow build
    return out


def warning_tiff() -> bytes:
    """Case 9: a TIFF whose EXIF block is cut, so Pillow warns while reading it."""
    im = Image.fromarray(_rgb(32, 32, 3))
    exif = im.getexif()
    exif[0x010E] = "x" * 400
    raw = exif.tobytes()
    return _save(im, "PNG", exif=raw[:-300])


def tiny_images() -> dict[str, bytes]:
    """Case 6: 1-pixel-wide and 1-pixel-high images."""
    return {"1x64.png": _save(_rgb(64, 1, 4), "PNG"), "64x1.png": _save(_rgb(1, 64, 5), "PNG"),
            "1x1.jpg": _save(_rgb(1, 1, 6), "JPEG"), "2x300.jpg": _save(_rgb(300, 2, 7), "JPEG")}


HOSTILE_NAMES = ["names[/x].png", "[bold red]x.png", "<script>alert(1)</script>.png", "a&b;.png"]
BAD_UTF8_NAME = b"bad-\xff\xfe.png"


def seeds(seed: int = 0) -> list[bytes]:
    """Valid files of every family the analyzers parse (C2PA, A1111, stealth, EXIF, XMP, ComfyUI)."""
    from .. import examples as ex
    from ..provenance.signing import make_test_chain

    rgb = _rgb(260, 300, seed)
    return [ex.c2pa_examples(rgb, make_test_chain())["ai"], ex.a1111_png(rgb), ex.novelai_stealth_png(rgb),
            ex.camera_jpeg(rgb), ex.jpeg_with_xmp(rgb, ex.xmp_packet("trainedAlgorithmicMedia")), ex.comfyui_png(rgb),
            _save(rgb, "WEBP", quality=80), _save(rgb, "TIFF"), _save(rgb, "GIF")]


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """1-6 random edits: flip a byte, truncate, insert random bytes, zero a run."""
    buf = bytearray(data)
    for _ in range(int(rng.integers(1, 7))):
        if not buf:
            break
        op = int(rng.integers(0, 4))
        pos = int(rng.integers(0, len(buf)))
        if op == 0:
            buf[pos] ^= int(rng.integers(1, 256))
        elif op == 1 and rng.random() < 0.3:
            del buf[pos:]
        elif op == 2:
            buf[pos:pos] = rng.integers(0, 256, int(rng.integers(1, 65)), dtype=np.uint8).tobytes()
        else:
            n = int(rng.integers(1, 257))
            buf[pos:pos + n] = bytes(min(n, len(buf) - pos))
    return bytes(buf)


def make_corpus(out: str | os.PathLike, scale: str = "small", n_mutated: int | None = None, seed: int = 0) -> list[Case]:
    """Write the corpus under ``out`` and return its cases.

    Parameters
    ----------
    out : path
        Folder to write into (created).
    scale : {"small", "full"}
        ``small``: the nine cases at sizes a correct reader handles in well under a second each
        (CI); ``full``: the sizes reported in the issue (an 8000x8000 progressive bomb, 100 MP
        PNGs, 200k-character texts).
    n_mutated : int, optional
        Mutated seed files to add (default 30 small, 2,000 full).
    seed : int
        Seed of every random choice.

    Returns
    -------
    list of Case
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    full = scale == "full"
    cases: list[Case] = []

    def put(name: str | bytes, data: bytes, case: str, note: str = "") -> None:
        p = os.path.join(os.fsencode(out), name) if isinstance(name, bytes) else os.path.join(out, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as fh:
            fh.write(data)
        cases.append(Case(os.fsdecode(p), case, note))

    put("regex-a1111.png", a1111_regex_png(200_000), "regex-a1111", "parameters of 200k characters")
    put("regex-xmp-li.png", xmp_png(xmp_unclosed_li(50_000)), "regex-xmp-li", "50k unclosed <rdf:li")
    put("regex-xmp-creator.png", xmp_png(xmp_unclosed_creator(23_000)), "regex-xmp-creator")
    put("progressive-bomb.jpg", progressive_bomb(8000 if full else 512, 5000 if full else 400), "progressive-bomb")
    put("pixel-bomb-1x100M.png", png_declaring(1, 100_000_000), "pixel-bomb", "4 KB declaring 1x100M")
    put("pixel-bomb-100kx100k.png", png_declaring(100_000, 100_000), "pixel-bomb", "over the pixel limit")
    put("flat-big.png", flat_png(10_000, 10_000) if full else flat_png(2000, 1500), "pixel-bomb",
        "complete flat PNG, " + ("100 MP" if full else "3 MP"))
    for name in HOSTILE_NAMES:
        put(name, _save(_rgb(40, 40, 9), "PNG"), "names")
    put(BAD_UTF8_NAME, _save(_rgb(40, 40, 10), "PNG"), "names", "invalid UTF-8")
    for name, data in tiny_images().items():
        put(f"tiny-{name}", data, "tiny")
    for ext, data in container_files().items():
        put(f"container.{ext}", data, "containers")
    put("deep-json.png", deep_json_png(200_000), "deep-json")
    put("warning.png", warning_tiff(), "warning")
    rng = np.random.default_rng(seed)
    base = seeds(seed)
    n = n_mutated if n_mutated is not None else (2000 if full else 30)
    for i in range(n):
        k = int(rng.integers(0, len(base)))
        put(f"mutated-{i:05d}.bin", mutate(base[k], rng), "mutated", f"seed {k}")
    return cases
