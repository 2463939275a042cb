"""EXIF / XMP / IPTC analyzer (``exif``): camera, capture time, software, edit history, GPS,
IPTC DigitalSourceType, and the inconsistencies a forensic examiner looks for.

Design
------
* Reads EXIF through Pillow (base, Exif, GPS and IFD1 directories), the XMP packet (parsed by
  an XML parser with caps; see ``meta``), and legacy IPTC-IIM. Never raises on malformed data:
  what could not be read is listed in ``details.problems``.
* ``details`` always uses the contract names ``make``, ``model``, ``software`` and
  ``digital_source_type`` (IPTC vocabulary term, e.g. ``trainedAlgorithmicMedia``; the full URI
  in ``digital_source_type_uri``) where present.
* Inconsistencies (``details.inconsistencies``):
  - EXIF PixelX/YDimension differ from the decoded size (either orientation);
  - the software field or XMP history names an image editor;
  - the EXIF thumbnail differs from the image: mean absolute difference > 20 grey levels
    against the image resized to the thumbnail, best of stretched / letterboxed framing and
    three orientations (cameras do all of these); the threshold and the scores behind it are in
    docs/benchmarks.md (section provenance);
  - modification time differs from the original capture time;
  - IPTC DigitalSourceType says AI while EXIF claims a camera.
* Verdict: ``absent`` (no EXIF, XMP or IPTC), ``ai-generated`` (DigitalSourceType is
  trainedAlgorithmicMedia / compositeWithTrainedAlgorithmicMedia / algorithmicMedia /
  compositeSynthetic), ``edited`` (an inconsistency or an editor), ``camera`` (make or model
  and nothing else to say), otherwise ``present``. Metadata is a claim: strength at most
  ``moderate`` (``weak`` for a bare camera claim).
"""
from __future__ import annotations

import io
import re
from typing import Any

import numpy as np

from ..analyzers import ScanContext, register
from ..imageio import LoadedImage
from ..report import Evidence
from . import meta

IPTC_PREFIX = "http://cv.iptc.org/newscodes/digitalsourcetype/"
AI_TYPES = {"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia", "algorithmicMedia", "compositeSynthetic"}
EDITORS = ["lightroom", "photoshop", "gimp", "affinity", "pixelmator", "paint.net", "snapseed", "capture one",
           "darktable", "rawtherapee", "luminar", "canva", "picsart", "facetune", "photopea", "corel", "paintshop",
           "acdsee", "fotor", "befunky", "krita", "inkscape", "photos 1", "picasa", "on1 photo", "dxo"]
THUMB_MAD = 20.0


def _dst(xmp: str | None) -> str | None:
    v = meta.xmp_get(xmp, "Iptc4xmpExt:DigitalSourceType") or meta.xmp_resource(xmp, "Iptc4xmpExt:DigitalSourceType")
    if not v:
        v = meta.xmp_get(xmp, "plus:DigitalSourceType")
    return v.strip() if v else None


def _editor(s: Any) -> str | None:
    low = str(s or "").lower()
    return next((e for e in EDITORS if e in low), None)


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b).mean())


def _thumb_check(img: LoadedImage) -> dict[str, Any] | None:
    data = meta.exif_thumbnail(img)
    if not data:
        return None
    import cv2
    from PIL import Image

    try:
        th = Image.open(io.BytesIO(data))
        th.load()
        t = np.asarray(th.convert("L"), dtype=np.float32)
    except Exception:
        return {"thumbnail": "unreadable"}
    # the thumbnail is stored in sensor orientation: compare against the un-rotated image
    g = np.asarray(img.pil.convert("L")) if img.pil is not None and img.orientation not in (0, 1) else img.gray
    th_h, th_w = t.shape
    res: dict[str, Any] = {"thumbnail_size": [th_w, th_h]}
    if float(t.std()) < 4.0:  # a blank (or nearly black) thumbnail says nothing
        res["thumbnail_differs"] = False
        res["note"] = "thumbnail is nearly uniform"
        return res
    side = 2 * max(th_w, th_h)
    k = max(g.shape) // side
    if k >= 2:  # one integer-factor area-downscale first (OpenCV's fast path); the rest costs ~nothing
        hh, ww = g.shape[0] // k * k, g.shape[1] // k * k
        g = cv2.resize(g[:hh, :ww], (ww // k, hh // k), interpolation=cv2.INTER_AREA)
    best = np.inf
    # cameras store the thumbnail stretched, letterboxed, or in the other orientation: try each
    for gg in (g, np.ascontiguousarray(np.rot90(g)), np.ascontiguousarray(np.rot90(g, 3))):
        h, w = gg.shape
        best = min(best, _mad(cv2.resize(gg, (th_w, th_h), interpolation=cv2.INTER_AREA), t))
        scale = min(th_w / w, th_h / h)
        fw, fh = max(1, round(w * scale)), max(1, round(h * scale))
        if (fw, fh) != (th_w, th_h):
            box = np.zeros((th_h, th_w), np.float32)
            y0, x0 = (th_h - fh) // 2, (th_w - fw) // 2
            box[y0:y0 + fh, x0:x0 + fw] = cv2.resize(gg, (fw, fh), interpolation=cv2.INTER_AREA)
            best = min(best, _mad(box, t))
    res["thumbnail_mad"] = round(float(best), 2)
    res["thumbnail_differs"] = bool(best > THUMB_MAD)
    if best > THUMB_MAD:
        res["reason"] = f"mean absolute difference {best:.1f} grey levels in every orientation and framing"
    return res


@register("exif", kind="provenance", tier="fast", order=30)
def analyze(img: LoadedImage, ctx: ScanContext) -> Evidence:
    """EXIF/XMP/IPTC: camera, capture time, software, edit history, GPS, DigitalSourceType, inconsistencies."""
    problems: list[str] = []
    ex = meta.exif_fields(img, problems)
    xmp = meta.xmp_packet(img)
    iim = meta.iptc_iim(img)
    details = _fields(ex, xmp, iim)
    if not (ex.get("_present") or xmp or iim):
        return Evidence(analyzer="exif", kind="provenance", verdict="no-evidence", strength="none",
                        summary="No EXIF, XMP or IPTC metadata.", details={**details, "problems": problems})
    inc, editors = _inconsistencies(img, ex, details)
    details["inconsistencies"] = inc
    details["editors"] = editors
    details["problems"] = problems
    verdict, strength, text = _verdict(details, inc, editors)
    return Evidence(analyzer="exif", kind="provenance", verdict=verdict, strength=strength,
                    summary=text[0].upper() + text[1:] + ".", details=details)


def _fields(ex: dict[str, Any], xmp: str | None, iim: dict[str, Any] | None) -> dict[str, Any]:
    """The reported fields of EXIF, then XMP (which fills what EXIF lacks), then IPTC-IIM."""
    details: dict[str, Any] = {"exif_present": bool(ex.get("_present")), "xmp_present": bool(xmp),
                               "iptc_iim_present": bool(iim)}
    for k, v in ex.items():
        if not k.startswith("_"):
            details[k] = v
    if ex.get("_user_comment_raw") is not None:
        uc = meta.decode_user_comment(ex["_user_comment_raw"])
        if uc:
            details["user_comment"] = uc[:300] + ("..." if len(uc) > 300 else "")
    if xmp:
        for key, prop in (("creator_tool", "xmp:CreatorTool"), ("xmp_create_date", "xmp:CreateDate"),
                          ("xmp_modify_date", "xmp:ModifyDate"), ("photoshop_history", "photoshop:History"),
                          ("credit", "photoshop:Credit"), ("description", "dc:description"), ("creator", "dc:creator")):
            v = meta.xmp_get(xmp, prop)
            if v:
                details[key] = v[:500]
        for key, prop in (("make", "tiff:Make"), ("model", "tiff:Model"), ("software", "tiff:Software"),
                          ("datetime_original", "exif:DateTimeOriginal"), ("lens_model", "aux:Lens")):
            if key not in details:
                v = meta.xmp_get(xmp, prop)
                if v:
                    details[key] = v[:200]
        hist = meta.xmp_history(xmp)
        if hist:
            details["xmp_history"] = hist
        dst_uri = _dst(xmp)
        if dst_uri:
            details["digital_source_type_uri"] = dst_uri
            details["digital_source_type"] = dst_uri.rstrip("/").rsplit("/", 1)[-1]
    if iim:
        details["iptc"] = iim
    return details


def _inconsistencies(img: LoadedImage, ex: dict[str, Any], details: dict[str, Any]) -> tuple[list[str], list[str]]:
    """One sentence per inconsistency (dimensions, editors, thumbnail, dates, source type vs camera),
    and the editors named by software fields and history. Adds the thumbnail check to ``details``."""
    inc: list[str] = []
    ew, eh = details.get("exif_width"), details.get("exif_height")
    pw, ph = img.pil.size if img.pil is not None else (img.width, img.height)
    if isinstance(ew, (int, float)) and isinstance(eh, (int, float)) and ew > 0 and eh > 0:
        ew, eh = int(ew), int(eh)
    if isinstance(ew, int) and isinstance(eh, int) and ew > 0 and eh > 0 and {(ew, eh)} & {(pw, ph), (ph, pw)} == set():
        inc.append(f"EXIF dimensions {ew}x{eh} differ from the pixel dimensions {pw}x{ph}")
    editors = [e for e in (_editor(details.get("software")), _editor(details.get("creator_tool"))) if e]
    editors += [e for h in details.get("xmp_history", []) for e in [_editor(h.get("softwareAgent"))] if e]
    if details.get("photoshop_history"):
        editors.append("photoshop")
    editors = list(dict.fromkeys(editors))
    if editors:
        inc.append(f"software/history names an editor ({', '.join(editors)})")
    if img.is_jpeg and ex.get("_thumb"):
        try:
            th = _thumb_check(img)
        except Exception as exc:  # a broken thumbnail is itself worth a note
            th = {"thumbnail": f"unreadable ({type(exc).__name__})"}
        if th:
            details["thumbnail"] = th
            if th.get("thumbnail_differs"):
                inc.append(f"EXIF thumbnail differs from the image ({th.get('reason')})")
    dto, dtm = details.get("datetime_original"), details.get("datetime")
    if isinstance(dto, str) and isinstance(dtm, str) and dto[:19] != dtm[:19] and re.match(r"\d{4}", dtm):
        inc.append(f"modified {dtm} after capture {dto}")
    dst = details.get("digital_source_type")
    if dst in AI_TYPES and (details.get("make") or details.get("model")):
        inc.append(f"DigitalSourceType {dst} but EXIF names a camera")
    return inc, editors


def _verdict(details: dict[str, Any], inc: list[str], editors: list[str]) -> tuple[str, str, str]:
    """(verdict, strength, summary text) of the metadata."""
    dst = details.get("digital_source_type")
    cam = " ".join(str(details[k]) for k in ("make", "model") if details.get(k))
    parts = []
    if cam:
        parts.append(f"camera {cam}")
    if details.get("datetime_original"):
        parts.append(f"captured {details['datetime_original']}")
    if details.get("software"):
        parts.append(f"software {details['software']}")
    if (details.get("gps") or {}).get("present"):
        parts.append("GPS present")
    if dst:
        parts.append(f"DigitalSourceType {dst}")
    if dst in AI_TYPES:
        verdict, strength = "ai-generated", "moderate"
    elif inc:
        verdict, strength = "edited", "moderate" if editors or any("thumbnail" in i or "dimensions" in i for i in inc) else "weak"
    elif cam:
        verdict, strength = "camera", "weak"
    else:
        verdict, strength = "present", "none" if not dst else "weak"
    text = "; ".join(parts) or "metadata present, no camera or source fields"
    if inc:
        text += "; inconsistencies: " + "; ".join(inc)
    return verdict, strength, text
