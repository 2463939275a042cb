"""Loader: formats, orientation, modes, limits and one-line errors."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from sleuth.errors import ImageLoadError
from sleuth.imageio import iter_image_paths, load_image

from .conftest import encode, natural_image


@pytest.mark.parametrize("fmt,kw", [("JPEG", {"quality": 90}), ("PNG", {}), ("WEBP", {"quality": 90}),
                                    ("TIFF", {}), ("BMP", {}), ("GIF", {})])
def test_formats_decode(fmt, kw):
    arr = natural_image(64, 80)
    img = load_image(encode(arr, fmt, **kw))
    assert img.rgb.shape == (64, 80, 3) and img.rgb.dtype == np.uint8
    assert img.format == fmt


def test_heic_and_avif_roundtrip():
    import pillow_heif

    pillow_heif.register_heif_opener()
    arr = natural_image(64, 64)
    for fmt in ("HEIF", "AVIF"):
        buf = io.BytesIO()
        try:
            Image.fromarray(arr).save(buf, fmt, quality=90)
        except (KeyError, OSError, ValueError):
            pytest.skip(f"no {fmt} encoder in this build")
        img = load_image(buf.getvalue())
        assert img.width == 64 and np.abs(img.rgb.astype(int) - arr).mean() < 20


def test_exif_orientation_applied():
    arr = natural_image(40, 100)
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 CW on display
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif.tobytes())
    img = load_image(buf.getvalue())
    assert (img.width, img.height) == (40, 100)
    assert any("orientation" in n for n in img.notes)


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK", "I;16", "LA"])
def test_modes(mode):
    base = Image.fromarray(natural_image(32, 32))
    im = base.convert(mode) if mode != "I;16" else Image.fromarray(np.asarray(base.convert("L")).astype(np.uint16) * 257)
    buf = io.BytesIO()
    im.save(buf, "TIFF" if mode == "CMYK" else "PNG")
    img = load_image(buf.getvalue())
    assert img.rgb.shape == (32, 32, 3)
    if mode in ("RGBA", "LA"):
        assert img.alpha is not None
    if mode == "I;16":
        assert img.bit_depth == 16


def test_gif_first_frame_noted():
    frames = [Image.fromarray(np.full((16, 16, 3), v, np.uint8)) for v in (10, 200)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    img = load_image(buf.getvalue())
    assert any("first" in n for n in img.notes)


@pytest.mark.parametrize("data,reason", [
    (b"", "empty"),
    (b"this is not an image at all", "not an image"),
    (encode(natural_image(64, 64), "JPEG")[:300], "corrupt"),
    (encode(natural_image(64, 64), "PNG")[:200], "corrupt"),
])
def test_bad_bytes_one_line(tmp_path, data, reason):
    p = tmp_path / "bad.jpg"
    p.write_bytes(data)
    with pytest.raises(ImageLoadError) as ei:
        load_image(p)
    msg = str(ei.value)
    assert "\n" not in msg and str(p) in msg and reason in msg


def test_pixel_limit_and_bomb(tmp_path):
    big = Image.new("L", (4000, 3000))
    buf = io.BytesIO()
    big.save(buf, "PNG")
    with pytest.raises(ImageLoadError, match="MP limit"):
        load_image(buf.getvalue(), max_pixels=1_000_000)
    # a real PNG whose IHDR is patched to claim 100000 x 100000 is refused before decoding
    import struct
    import zlib
    small = bytearray(encode(natural_image(8, 8), "PNG"))
    ihdr = struct.pack(">II", 100000, 100000) + bytes(small[24:29])
    small[16:29] = ihdr
    small[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    with pytest.raises(ImageLoadError, match="limit"):
        load_image(bytes(small))


def test_missing_and_directory(tmp_path):
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageLoadError, match="directory"):
        load_image(tmp_path)


def test_directory_loop_reported(tmp_path):
    d = tmp_path / "a"
    d.mkdir()
    (d / "x.png").write_bytes(encode(natural_image(8, 8), "PNG"))
    (d / "loop").symlink_to(tmp_path)
    files, problems = iter_image_paths([tmp_path], recursive=True)
    assert files.count(str(d / "x.png")) == 1
    assert any("loop" in why for _, why in problems)


def test_lazy_load_reads_the_header_only_and_decodes_on_demand():
    arr = natural_image(40, 100)
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif.tobytes())
    img = load_image(buf.getvalue(), lazy=True)
    assert not img.decoded and (img.width, img.height) == (40, 100)  # orientation known from the header
    assert img.rgb.shape == (100, 40, 3) and img.decoded


def test_lazy_decode_error_is_kept_and_one_line():
    data = encode(natural_image(64, 64), "PNG")[:300]
    img = load_image(data, lazy=True)
    with pytest.raises(ImageLoadError) as ei:
        img.rgb  # noqa: B018
    assert img.decode_error is ei.value and "\n" not in str(ei.value)
    with pytest.raises(ImageLoadError):
        img.alpha  # noqa: B018 - the same error again, no second decode


def test_png_text_after_idat_found_without_decoding():
    from PIL import PngImagePlugin

    from sleuth.provenance import meta

    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat\nSteps: 20, Seed: 5", zip=True)
    data = bytearray(encode(natural_image(32, 32), "PNG", pnginfo=info))
    # move the zTXt chunk after IDAT (tools append metadata at the end)
    z = data.find(b"zTXt") - 4
    n = int.from_bytes(data[z:z + 4], "big") + 12
    chunk = bytes(data[z:z + n])
    del data[z:z + n]
    iend = data.find(b"IEND") - 4
    data[iend:iend] = chunk
    img = load_image(bytes(data), lazy=True)
    assert meta.png_text(img)["parameters"].startswith("a cat") and not img.decoded
