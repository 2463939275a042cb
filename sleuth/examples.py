"""Example images for the demo scan (``sleuth examples DIR`` / ``make scan``) and the tests.

The demo must tell the truth, so its photographs are real: the photographs bundled with
scikit-image (``skimage.data``: NASA's astronaut portrait, the coffee cup, the SpaceX rocket
launch; each licence is in :data:`PHOTOS` and written to ``DIR/.README.md``). One of them gets
camera-style EXIF, one is a copy-move edit of a real photo (EXIF names the editor). The AI
examples are procedural drawings (:func:`photo_like`) carrying what each tool writes, written
the way those tools write it:

* C2PA (c2pa-python Builder, throw-away ES256 chain made here): an AI-generated claim
  (``c2pa.created`` + trainedAlgorithmicMedia), an edit with the first file as ``parentOf``
  ingredient, a tampered copy (pixels changed after signing: must validate ``invalid``) and a
  file that only references a remote manifest (``unresolved``: sleuth never fetches it).
* Automatic1111 ``parameters`` tEXt, ComfyUI ``prompt``/``workflow``, InvokeAI
  ``invokeai_metadata``, NovelAI text chunks and NovelAI alpha-LSB stealth (gzip JSON).
* Stable Diffusion v1/v2 (``StableDiffusionV1`` bytes) and SDXL (48-bit) invisible marks with
  invisible-watermark's own ``dwtDct`` encoder on the BGR image, as the reference scripts do.
* An XMP sample carrying IPTC DigitalSourceType = trainedAlgorithmicMedia.
* ``broken/``: zero-byte, truncated, not-an-image and malformed-C2PA files (kept out of the top
  folder so ``sleuth scan DIR`` exits 0; ``sleuth scan DIR -r`` shows them as error rows).

The drawings are not photographs: the AI detector is calibrated on photographs, so its
probability on them is shown with that caveat, and the AI rows rest on the claims and marks.
"""
from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, PngImagePlugin

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"


# ----------------------------------------------------------------------------- pixels

def photo_like(h: int = 512, w: int = 640, seed: int = 0) -> np.ndarray:
    """A photo-like RGB image: gradients, shapes, texture, mild noise (no external data)."""
    import cv2

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img: np.ndarray = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        a, b = rng.uniform(-1, 1, 2)
        img[..., c] = 110 + 60 * np.sin(xx / w * np.pi * (1 + c) * a + yy / h * np.pi * b + c)
    for _ in range(12):
        col = rng.uniform(0, 255, 3).tolist()
        cx, cy = int(rng.uniform(0, w)), int(rng.uniform(0, h))
        r = int(rng.uniform(min(10, min(h, w) / 8), max(min(h, w) / 4, 11)))
        if rng.random() < 0.5:
            cv2.circle(img, (cx, cy), r, col, -1)
        else:
            cv2.rectangle(img, (cx, cy), (cx + r, cy + int(r * 0.7)), col, -1)
    tex = cv2.GaussianBlur(rng.normal(0, 18, (h, w)).astype(np.float32), (0, 0), 1.2)
    img += tex[..., None]
    img = np.asarray(cv2.GaussianBlur(img, (0, 0), 0.8), np.float32)  # (already float32: typing only)
    img += rng.normal(0, 2.0, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _save(arr_or_im: Any, fmt: str, **kw: Any) -> bytes:
    im = arr_or_im if isinstance(arr_or_im, Image.Image) else Image.fromarray(arr_or_im)
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def png_with_text(rgb: np.ndarray, chunks: dict[str, str], itxt: bool = False) -> bytes:
    info = PngImagePlugin.PngInfo()
    for k, v in chunks.items():
        if itxt:
            info.add_itxt(k, v)
        else:
            info.add_text(k, v)
    return _save(rgb, "PNG", pnginfo=info)


# ----------------------------------------------------------------------------- generator metadata

A1111_PARAMS = ("a lighthouse on a cliff at sunset, dramatic sky, <lora:film_grain:0.6>\n"
                "Negative prompt: blurry, lowres, watermark\n"
                "Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 1234567890, Size: 640x512, "
                "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.45, Version: v1.10.1")


def a1111_png(rgb: np.ndarray, params: str = A1111_PARAMS) -> bytes:
    """Automatic1111 writes one tEXt chunk named 'parameters' (the infotext)."""
    return png_with_text(rgb, {"parameters": params})


def a1111_jpeg(rgb: np.ndarray, params: str = A1111_PARAMS) -> bytes:
    """A1111 JPEG/WebP: the infotext in EXIF UserComment, 'UNICODE' prefix + UTF-16BE (piexif)."""
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + params.encode("utf-16-be")
    return _save(rgb, "JPEG", quality=92, exif=exif.tobytes())


def comfyui_graph(prompt: str = "a red fox in the snow, telephoto", negative: str = "cartoon, text",
                  seed: int = 42, ckpt: str = "sd_xl_base_1.0.safetensors") -> tuple[dict, dict]:
    """A minimal ComfyUI API graph ('prompt') and UI graph ('workflow') as ComfyUI saves them."""
    api = {
        "3": {"class_type": "KSampler", "inputs": {"seed": seed, "steps": 25, "cfg": 7.0, "sampler_name": "euler",
                                                    "scheduler": "normal", "denoise": 1.0, "model": ["4", 0],
                                                    "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 1024, "height": 1024, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": prompt, "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": negative, "clip": ["4", 1]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
    }
    workflow = {"last_node_id": 9, "last_link_id": 9, "version": 0.4,
                "nodes": [{"id": int(k), "type": v["class_type"], "widgets_values": []} for k, v in api.items()],
                "links": []}
    return api, workflow


def comfyui_png(rgb: np.ndarray, **kw: Any) -> bytes:
    api, wf = comfyui_graph(**kw)
    return png_with_text(rgb, {"prompt": json.dumps(api), "workflow": json.dumps(wf)})


def invokeai_png(rgb: np.ndarray) -> bytes:
    """InvokeAI 3.x+: 'invokeai_metadata' JSON (and 'invokeai_graph')."""
    md = {"generation_mode": "txt2img", "positive_prompt": "an astronaut riding a horse, oil painting",
          "negative_prompt": "photo", "width": 640, "height": 512, "seed": 987654321, "cfg_scale": 7.5,
          "steps": 30, "scheduler": "euler_a", "model": {"name": "stable-diffusion-v1-5", "base": "sd-1"},
          "app_version": "4.2.4"}
    return png_with_text(rgb, {"invokeai_metadata": json.dumps(md), "invokeai_graph": json.dumps({"id": "g", "nodes": {}})})


NOVELAI_COMMENT: dict[str, Any] = {"prompt": "masterpiece, best quality, a cat astronaut, space", "steps": 28, "height": 512,
                   "width": 640, "scale": 5.0, "uncond_scale": 1.0, "cfg_rescale": 0.0, "seed": 3141592653,
                   "n_samples": 1, "noise_schedule": "native", "sampler": "k_euler_ancestral",
                   "uc": "lowres, bad anatomy, text"}


def novelai_fields() -> dict[str, str]:
    return {"Title": "AI generated image", "Description": NOVELAI_COMMENT["prompt"], "Software": "NovelAI",
            "Source": "NovelAI Diffusion V3 7BCCAA2C", "Comment": json.dumps(NOVELAI_COMMENT)}


def novelai_png(rgb: np.ndarray) -> bytes:
    return png_with_text(rgb, novelai_fields())


def stealth_embed(rgba: np.ndarray, payload: bytes, compressed: bool = True) -> np.ndarray:
    """Alpha-LSB stealth pnginfo as NovelAI / the A1111 extension write it: magic, 32-bit bit count,
    payload (gzip when 'pngcomp'), bits laid column by column (x outer, y inner)."""
    magic = b"stealth_pngcomp" if compressed else b"stealth_pnginfo"
    data = gzip.compress(payload) if compressed else payload
    bits = np.concatenate([np.unpackbits(np.frombuffer(magic, np.uint8)),
                           np.array([int(b) for b in format(len(data) * 8, "032b")], np.uint8),
                           np.unpackbits(np.frombuffer(data, np.uint8))])
    h, w = rgba.shape[:2]
    if bits.size > h * w:
        raise ValueError("image too small for the payload")
    out = rgba.copy()
    alpha_t = out[..., 3].T.copy()  # column-major view: (w, h)
    flat = alpha_t.reshape(-1)
    flat[: bits.size] = (flat[: bits.size] & 0xFE) | bits
    out[..., 3] = flat.reshape(w, h).T
    return out


def novelai_stealth_png(rgb: np.ndarray) -> bytes:
    """NovelAI's stealth format: the whole metadata dict as gzip JSON in the alpha LSBs, no text chunk."""
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    payload = json.dumps(novelai_fields()).encode()
    return _save(Image.fromarray(stealth_embed(rgba, payload), "RGBA"), "PNG")


# ----------------------------------------------------------------------------- known watermarks

def embed_known_mark(rgb: np.ndarray, mark: str) -> np.ndarray:
    """Embed the SD v1/v2 or SDXL mark exactly as the reference pipelines: BGR uint8 -> dwtDct -> RGB."""
    from .watermark.known import SD_BITS, SDXL_BITS

    bits = {"stable-diffusion": SD_BITS, "sdxl": SDXL_BITS}[mark]
    from .watermark.methods import reference_dwtdct

    enc = reference_dwtdct()(watermarks=[int(b) for b in bits], wmLen=len(bits))
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    out = enc.encode(bgr)
    return np.ascontiguousarray(np.clip(out, 0, 255).astype(np.uint8)[:, :, ::-1])


# ----------------------------------------------------------------------------- camera / XMP

def camera_jpeg(rgb: np.ndarray, make: str = "Canon", model: str = "Canon EOS R6",
                when: str = "2024:05:17 14:03:22", gps: tuple[float, float] | None = (48.858222, 2.2945),
                software: str | None = "Firmware Version 1.8.1", thumb_from: np.ndarray | None = None,
                exif_size: tuple[int, int] | None = None) -> bytes:
    """A camera-style JPEG: make/model/capture time/GPS/lens, and a 160x120 IFD1 thumbnail."""
    h, w = rgb.shape[:2]
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0132] = make, model, when
    if software:
        exif[0x0131] = software
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = sub[0x9004] = when
    sub[0xA434] = "RF24-105mm F4 L IS USM"
    ew, eh = exif_size or (w, h)
    sub[0xA002], sub[0xA003] = ew, eh
    if gps:
        def dms(x: float) -> tuple:
            x = abs(x)
            d = int(x)
            m = int((x - d) * 60)
            return (float(d), float(m), round(((x - d) * 60 - m) * 60, 4))
        g = exif.get_ifd(0x8825)
        g[1], g[2] = ("N" if gps[0] >= 0 else "S"), dms(gps[0])
        g[3], g[4] = ("E" if gps[1] >= 0 else "W"), dms(gps[1])
    main = _save(rgb, "JPEG", quality=90, exif=exif.tobytes())
    thumb_src = thumb_from if thumb_from is not None else rgb
    return _add_exif_thumbnail(main, _save(Image.fromarray(thumb_src).resize((160, 120)), "JPEG", quality=80))


def _add_exif_thumbnail(jpeg: bytes, thumb: bytes) -> bytes:
    """Re-write the APP1 segment with an IFD1 that points at ``thumb`` (Pillow cannot write IFD1)."""
    import struct

    i = jpeg.find(b"Exif\x00\x00")
    seg_start = i - 4  # FFE1 + length
    seg_len = struct.unpack(">H", jpeg[seg_start + 2: seg_start + 4])[0]
    tiff = bytearray(jpeg[i + 6: seg_start + 2 + seg_len])
    le = tiff[:2] == b"II"
    e = "<" if le else ">"
    off0 = struct.unpack(e + "I", tiff[4:8])[0]
    n = struct.unpack(e + "H", tiff[off0: off0 + 2])[0]
    next_ptr = off0 + 2 + 12 * n
    ifd1_off = len(tiff)
    struct.pack_into(e + "I", tiff, next_ptr, ifd1_off)
    entries = [(0x0103, 3, 1, 6), (0x0201, 4, 1, 0), (0x0202, 4, 1, len(thumb))]
    ifd1 = bytearray(struct.pack(e + "H", len(entries)))
    thumb_off = ifd1_off + 2 + 12 * len(entries) + 4
    for tag, typ, cnt, val in entries:
        if tag == 0x0201:
            val = thumb_off
        if typ == 3:
            ifd1 += struct.pack(e + "HHIHH", tag, typ, cnt, val, 0)
        else:
            ifd1 += struct.pack(e + "HHII", tag, typ, cnt, val)
    ifd1 += struct.pack(e + "I", 0)
    payload = b"Exif\x00\x00" + bytes(tiff) + bytes(ifd1) + thumb
    if len(payload) + 2 > 65535:
        raise ValueError("EXIF with thumbnail over 64 KiB")
    seg = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:seg_start] + seg + jpeg[seg_start + 2 + seg_len:]


def xmp_packet(dst: str = "trainedAlgorithmicMedia", creator_tool: str | None = None,
               history: list[dict[str, str]] | None = None) -> bytes:
    hist = ""
    if history:
        lis = "".join(f'<rdf:li stEvt:action="{h.get("action", "saved")}" stEvt:softwareAgent="{h.get("softwareAgent", "")}" '
                      f'stEvt:when="{h.get("when", "")}"/>' for h in history)
        hist = f"<xmpMM:History><rdf:Seq>{lis}</rdf:Seq></xmpMM:History>"
    tool = f' xmp:CreatorTool="{creator_tool}"' if creator_tool else ""
    return (f'<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            f'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
            f'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
            f'xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#" '
            f'Iptc4xmpExt:DigitalSourceType="{IPTC}{dst}"{tool}>{hist}</rdf:Description></rdf:RDF></x:xmpmeta>'
            f'<?xpacket end="w"?>').encode()


def jpeg_with_xmp(rgb: np.ndarray, xmp: bytes) -> bytes:
    return _save(rgb, "JPEG", quality=90, xmp=xmp)


# ----------------------------------------------------------------------------- C2PA

def c2pa_examples(rgb: np.ndarray, chain: Any = None) -> dict[str, bytes]:
    """AI-generated claim, an edit with that file as parentOf ingredient, and a tampered copy."""
    from .provenance.signing import make_test_chain, sign_image

    chain = chain or make_test_chain()
    base = _save(rgb, "JPEG", quality=90)
    ai = sign_image(base, "JPEG", chain, title="ai.jpg", generator="sleuth-examples/0.1",
                    actions=[{"action": "c2pa.created", "digitalSourceType": IPTC + "trainedAlgorithmicMedia",
                              "softwareAgent": "Example Diffusion 2.0"}])
    edited_pixels = rgb.copy()
    edited_pixels[40:120, 40:200] = 255 - edited_pixels[40:120, 40:200]
    edited = sign_image(_save(edited_pixels, "JPEG", quality=90), "JPEG", chain, title="edited.jpg",
                        actions=[{"action": "c2pa.opened", "parameters": {"ingredientIds": ["ingredient-0"]}},
                                 {"action": "c2pa.edited", "softwareAgent": "Example Editor 5"}],
                        ingredients=[(ai, "JPEG", "parentOf")])
    remote = sign_image(_save(rgb, "JPEG", quality=85), "JPEG", chain, title="remote.jpg",
                        remote_url="https://credentials.example.invalid/manifests/remote.c2pa")
    return {"ai": ai, "edited": edited, "tampered": tamper_jpeg(ai), "remote_reference": remote}


def tamper_jpeg(signed: bytes) -> bytes:
    """Change pixels after signing, keeping the manifest: decode, alter a block, re-encode with the
    original APP11 (JUMBF) segments spliced back in. The data hash no longer matches."""
    import struct

    im = np.asarray(Image.open(io.BytesIO(signed)).convert("RGB")).copy()
    im[10:60, 10:60] = [255, 0, 0]
    fresh = _save(im, "JPEG", quality=90)
    segs, pos = [], 2
    while pos + 4 <= len(signed) and signed[pos] == 0xFF:
        marker = signed[pos + 1]
        if marker in (0xDA, 0xD9):
            break
        ln = struct.unpack(">H", signed[pos + 2: pos + 4])[0]
        if marker == 0xEB:  # APP11: C2PA JUMBF
            segs.append(signed[pos: pos + 2 + ln])
        pos += 2 + ln
    return fresh[:2] + b"".join(segs) + fresh[2:]


def corrupt_jumbf(signed: bytes) -> bytes:
    """Overwrite the middle of the first APP11 (JUMBF) segment with junk: a malformed manifest."""
    i = signed.find(b"\xff\xeb")
    if i < 0:
        return signed
    mid = i + 40
    return signed[:mid] + bytes(range(7, 7 + 64)) + signed[mid + 64:]


# ----------------------------------------------------------------------------- the demo folder

#: the real photographs used, from scikit-image's bundled data, with the licence its docs state
PHOTOS: dict[str, dict[str, str]] = {
    "coffee": {"what": "a coffee cup (photograph, Pikolo Espresso Bar)",
               "licence": "No copyright restrictions. CC0 by the photographer (Rachel Michetti)."},
    "astronaut": {"what": "portrait of astronaut Eileen Collins (NASA Great Images database)",
                  "licence": "No known copyright restrictions, released into the public domain (NASA)."},
    "rocket": {"what": "launch of DSCOVR on Falcon 9 (SpaceX photo)",
               "licence": "Captured by SpaceX and released into the public domain."},
}


def real_photo(name: str) -> np.ndarray:
    """One of scikit-image's bundled photographs (see :data:`PHOTOS`) as RGB uint8."""
    import skimage.data

    if name not in PHOTOS:
        raise KeyError(f"{name}: not one of {', '.join(PHOTOS)}")
    return np.ascontiguousarray(getattr(skimage.data, name)()[..., :3])


def copy_move(rgb: np.ndarray, src: tuple[int, int], dst: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """Copy the ``size`` (h, w) block at ``src`` (y, x) onto ``dst``: a clone edit."""
    out = rgb.copy()
    (sy, sx), (dy, dx), (h, w) = src, dst, size
    out[dy:dy + h, dx:dx + w] = rgb[sy:sy + h, sx:sx + w]
    return out


#: what each demo file is and what the scan should say about it (written to .README.md)
DEMO: dict[str, str] = {
    "plain_photo.jpg": "real photograph (coffee), no metadata: expect no evidence",
    "photo_rocket.jpg": "real photograph (rocket), no metadata: expect no evidence",
    "camera_exif_gps.jpg": "real photograph (astronaut) with camera-style EXIF (Canon EOS R6, GPS; the EXIF is "
                           "synthetic): expect camera photo",
    "edited_copy_move.jpg": "the astronaut photograph with a 128 px block cloned from lower left to upper right, EXIF names Adobe "
                            "Photoshop: expect edited (claim + forensics)",
    "c2pa_ai.jpg": "drawing signed with C2PA, c2pa.created + trainedAlgorithmicMedia: expect AI-generated by claim",
    "c2pa_edited.jpg": "C2PA edit (c2pa.opened, c2pa.edited) with c2pa_ai.jpg as ingredient: AI claim + edit claim",
    "c2pa_tampered.jpg": "c2pa_ai.jpg with pixels changed after signing: content-hash mismatch, claims not counted",
    "c2pa_remote_reference.jpg": "points to a remote manifest that is not fetched: unresolved",
    "a1111_parameters.png": "Automatic1111 infotext: AI by claim", "a1111_usercomment.jpg": "A1111 JPEG UserComment",
    "comfyui_prompt_workflow.png": "ComfyUI graph: AI by claim", "invokeai_metadata.png": "InvokeAI metadata",
    "novelai_text.png": "NovelAI text chunks", "novelai_stealth_alpha.png": "NovelAI alpha-LSB stealth metadata",
    "sd_v1_watermarked.png": "Stable Diffusion v1 invisible mark: AI by mark",
    "sdxl_watermarked.png": "SDXL invisible mark: AI by mark",
    "iptc_trained_algorithmic_media.jpg": "XMP IPTC DigitalSourceType trainedAlgorithmicMedia: AI by claim",
    "broken/": "zero bytes, truncated, not an image, malformed C2PA: expect not analysed (scan with -r)",
}


def _demo_photos() -> dict[str, bytes]:
    files = {"plain_photo.jpg": _save(real_photo("coffee"), "JPEG", quality=90),
             "photo_rocket.jpg": _save(real_photo("rocket"), "JPEG", quality=90)}
    ast = real_photo("astronaut")
    files["camera_exif_gps.jpg"] = camera_jpeg(ast)
    # a block cloned from the lower left to the upper right, then saved by an editor
    edited = copy_move(np.asarray(Image.open(io.BytesIO(_save(ast, "JPEG", quality=90))).convert("RGB")),
                       (330, 20), (40, 330), (160, 160))
    files["edited_copy_move.jpg"] = camera_jpeg(edited, software="Adobe Photoshop 25.0 (Windows)", thumb_from=ast)
    return files


def readme() -> str:
    """The generated folder's README: what each file is, and each photograph's source and licence."""
    lines = ["# sleuth demo images", "", "Generated by `sleuth examples DIR`; scan with `sleuth scan DIR -r`.", "",
             "| file | what it is |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in DEMO.items()]
    lines += ["", "## Photographs and their licences (from scikit-image's `skimage.data`)", ""]
    lines += [f"- `{k}`: {v['what']}. Licence: {v['licence']}" for k, v in PHOTOS.items()]
    lines += ["", "The C2PA, generator-metadata and watermark examples are procedural drawings, not photographs: "
              "the AI detector is calibrated on photographs, read its probability on them with care.", ""]
    return "\n".join(lines)


def make_examples(out: Path) -> list[Path]:
    """Write the demo folder; returns the files written (broken ones under ``broken/``).

    Parameters
    ----------
    out : Path
        Destination folder (created).

    Returns
    -------
    list of Path
        The image files written; ``.README.md`` (hidden, so a scan skips it) describes them.
    """
    from .util import atomic_write_bytes, atomic_write_text

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = _demo_photos()
    rgb = photo_like(512, 640, seed=1)
    for name, data in c2pa_examples(rgb).items():
        files[f"c2pa_{name}.jpg"] = data
    files["a1111_parameters.png"] = a1111_png(photo_like(512, 640, seed=2))
    files["a1111_usercomment.jpg"] = a1111_jpeg(photo_like(512, 640, seed=2))
    files["comfyui_prompt_workflow.png"] = comfyui_png(photo_like(512, 512, seed=3))
    files["invokeai_metadata.png"] = invokeai_png(photo_like(512, 640, seed=4))
    files["novelai_text.png"] = novelai_png(photo_like(512, 640, seed=5))
    files["novelai_stealth_alpha.png"] = novelai_stealth_png(photo_like(512, 640, seed=5))
    from .watermark.methods import MethodUnavailable

    try:
        # the reference dwtDct scheme does not survive every content (embedding can push the largest
        # AC coefficient below another one, which the decoder then reads): these seeds decode in full
        files["sd_v1_watermarked.png"] = _save(embed_known_mark(photo_like(512, 640, seed=16), "stable-diffusion"), "PNG")
        files["sdxl_watermarked.png"] = _save(embed_known_mark(photo_like(768, 768, seed=16), "sdxl"), "PNG")
    except MethodUnavailable:  # invisible-watermark missing: say so instead of failing the demo
        pass
    files["iptc_trained_algorithmic_media.jpg"] = jpeg_with_xmp(photo_like(480, 640, seed=9), xmp_packet("trainedAlgorithmicMedia"))
    good = _save(photo_like(256, 256, seed=11), "JPEG", quality=85)
    broken = {"broken/zero_bytes.jpg": b"", "broken/truncated.jpg": good[: len(good) // 3],
              "broken/not_an_image.png": b"this is a text file, not a PNG\n" * 4,
              "broken/malformed_c2pa.jpg": corrupt_jumbf(files["c2pa_ai.jpg"])}
    written = []
    for rel, data in {**files, **broken}.items():
        p = out / rel
        atomic_write_bytes(p, data)
        written.append(p)
    atomic_write_text(out / ".README.md", readme())
    return written
