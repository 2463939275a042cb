"""Known invisible watermarks (``known-watermark``): Stable Diffusion v1/v2, SDXL, TrustMark.

Design
------
* **SD v1/v2** (CompVis/Stability reference scripts) embed the 17 bytes ``StableDiffusionV1``
  (136 bits) and **SDXL** (generative-models / diffusers) the 48-bit message
  ``0b101100111110110010010000011110111011000110011110``, both with invisible-watermark's
  ``dwtDct`` method on the BGR image: U channel of OpenCV's YUV, one Haar DWT level, LL band
  cut into 4x4 blocks; block *n* carries bit ``n mod L`` in the largest off-DC coefficient's
  magnitude modulo 36.
* The reference decoder (``imwatermark.EmbedMaxDct.decode``) loops over blocks in Python
  (~60 ms per megapixel plus a 40 ms pywt.dwt2). We compute the **same per-block scores** vectorised with numpy and
  average them by ``n mod 136`` and ``n mod 48`` from that one pass, so SD and SDXL share all
  the work: ~8 ms per megapixel. Bits equal the reference decoder's (tested bit for bit).
* Decision: matched bits k of n against the expected message; p-value = binomial tail
  P(X >= k | n, 1/2); a mark is reported when p <= FPR (option ``fpr``, default 1e-6, i.e.
  k >= 96/136 for SD and k >= 41/48 for SDXL). Images under 256x256 (the encoder's minimum)
  are not checked and say so.
* **TrustMark** (Adobe): decoded with the ``trustmark`` package (variant Q) only when it is
  importable and all its weight files are already in its ``models/`` folder; otherwise ``details.checked.trustmark`` and the summary
  say "not checked: weights not available" (never a silent pass). No download is attempted.

On ../shared/data (benchmarks.md, section provenance) no real photograph reaches the default
FPR: of 528 photos large enough to check, the best match is 81/136 (SD) and 36/48 (SDXL),
smallest p 3.6e-4. Marks made with the reference encoder decode with up to 136/136 and 48/48
bits, but the scheme is content-dependent (embedding can lower the largest AC coefficient below
another one, which the decoder then reads instead; textured blocks suffer): on our procedural
test images 5 of 8 SDXL and 7 of 8 SD marks decode at 512x512, and none of the 219 AI images in ../shared/data carries
a readable mark (re-encoded, or made by pipelines that do not mark).
"""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..analyzers import ScanContext, register
from ..imageio import LoadedImage
from ..report import Evidence

SD_MESSAGE = b"StableDiffusionV1"
SD_BITS = np.unpackbits(np.frombuffer(SD_MESSAGE, np.uint8)).astype(np.uint8)
SDXL_MESSAGE = 0b101100111110110010010000011110111011000110011110
SDXL_BITS = np.array([int(b) for b in bin(SDXL_MESSAGE)[2:]], np.uint8)
MARKS: dict[str, np.ndarray] = {"stable-diffusion": SD_BITS, "sdxl": SDXL_BITS}
SCALE = 36.0  # invisible-watermark's default for the U channel
BLOCK = 4
HAAR = 0.7071067811865476  # pywt.Wavelet('haar').dec_lo[0]
MIN_PIXELS = 256 * 256
DEFAULT_FPR = 1e-6


def binom_pvalue(matched: int, n: int) -> float:
    """P(X >= matched), X ~ Binomial(n, 1/2), exact with integers (scipy.stats costs ~1 s to import)."""
    if n <= 0:
        return 1.0
    matched = max(0, matched)
    return float(sum(math.comb(n, i) for i in range(matched, n + 1)) / (1 << n))


def min_matches(n: int, fpr: float) -> int:
    """Smallest k with P(X >= k) <= fpr."""
    return next((k for k in range(n + 1) if binom_pvalue(k, n) <= fpr), n + 1)


def block_scores(bgr_or_rgb: np.ndarray, rgb: bool = True) -> np.ndarray:
    """Per-block 0/1 scores of invisible-watermark's dwtDct decoder, in its block order."""
    import cv2

    img = np.ascontiguousarray(bgr_or_rgb)
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    row, col = img.shape[:2]
    yuv = cv2.cvtColor(img, cv2.COLOR_RGB2YUV if rgb else cv2.COLOR_BGR2YUV)
    # one-level Haar DWT, approximation band, with pywt's exact floating-point operations (rows,
    # then columns, h*x[2k+1] + h*x[2k]): bit-identical to pywt.dwt2(...)[0] (tested), whose
    # rounding decides ties at exactly 18 mod 36, at a third of its cost (it computes 4 bands).
    u = yuv[: row // 4 * 4, : col // 4 * 4, 1]  # uint8: HAAR * u promotes to float64 exactly
    a = HAAR * u[1::2, :] + HAAR * u[0::2, :]
    ll = HAAR * a[:, 1::2] + HAAR * a[:, 0::2]
    h, w = ll.shape
    nbh, nbw = h // BLOCK, w // BLOCK
    blocks = ll[: nbh * BLOCK, : nbw * BLOCK].reshape(nbh, BLOCK, nbw, BLOCK).transpose(0, 2, 1, 3)
    flat = blocks.reshape(nbh * nbw, BLOCK * BLOCK)
    val = np.abs(flat[:, 1:]).max(axis=1)  # the reference's value at argmax |AC| is the max |AC|
    return (np.mod(val, SCALE) > 0.5 * SCALE).astype(np.float64)


def decode_bits(scores: np.ndarray, length: int) -> np.ndarray:
    """Average block scores by bit index (block n carries bit n mod length), threshold as the reference."""
    n = scores.shape[0]
    idx = np.arange(n) % length
    sums = np.bincount(idx, weights=scores, minlength=length)
    counts = np.bincount(idx, minlength=length)
    avg = np.divide(sums, counts, out=np.zeros(length), where=counts > 0)
    return (avg * 255 > 127).astype(np.uint8)


def check_marks(rgb: np.ndarray, fpr: float = DEFAULT_FPR) -> dict[str, dict[str, Any]]:
    """Decode once, test every known dwtDct mark; returns per mark matched bits, p-value, decision."""
    scores = block_scores(rgb, rgb=True)
    out = {}
    for name, bits in MARKS.items():
        n = int(bits.size)
        got = decode_bits(scores, n)
        k = int((got == bits).sum())
        p = binom_pvalue(k, n)
        out[name] = {"matched_bits": k, "n_bits": n, "p_value": p, "detected": bool(p <= fpr)}
    return out


def _trustmark_status() -> tuple[bool, str]:
    """(usable, reason). Usable only when the package is importable and its weights exist locally."""
    spec = importlib.util.find_spec("trustmark")
    if spec is None or not spec.submodule_search_locations:
        return False, "not checked: weights not available (trustmark package not installed)"
    # trustmark keeps (and on first use downloads) its weights beside its code, in models/; we only
    # construct it when every file of the Q variant is already there, so it never downloads
    for loc in spec.submodule_search_locations:
        d = Path(loc) / "models"
        if all((d / f).is_file() for f in TRUSTMARK_FILES):
            return True, str(d)
    return False, "not checked: weights not available (TrustMark Q weights not in the trustmark package's models/)"


TRUSTMARK_FILES = ("trustmark_Q.yaml", "decoder_Q.ckpt", "encoder_Q.ckpt", "trustmark_rm_Q.yaml", "trustmark_rm_Q.ckpt")
_TM: dict[str, Any] = {}


def _trustmark_decode(img: LoadedImage) -> dict[str, Any]:  # pragma: no cover - needs weights
    if "tm" not in _TM:
        from trustmark import TrustMark

        _TM["tm"] = TrustMark(verbose=False, model_type="Q")
    secret, present, schema = _TM["tm"].decode(img.to_pil().convert("RGB"))
    return {"detected": bool(present), "secret": secret if present else None, "schema": schema}


@register("known-watermark", kind="watermark", tier="fast", order=40, origin_effect="ai")
def analyze(img: LoadedImage, ctx: ScanContext) -> Evidence:
    """Publicly known invisible marks: Stable Diffusion v1/v2, SDXL (dwtDct) and TrustMark."""
    fpr = float(ctx.get("known_watermark_fpr") or DEFAULT_FPR)
    checked: dict[str, Any] = {}
    details: dict[str, Any] = {"fpr": fpr, "checked": checked}
    found: list[tuple[str, dict[str, Any]]] = []
    if img.width * img.height < MIN_PIXELS:
        checked["stable-diffusion"] = checked["sdxl"] = "not checked: image under 256x256 (the marks need at least that)"
    else:
        res = check_marks(img.rgb, fpr)
        details.update(res)
        for name, r in res.items():
            checked[name] = "detected" if r["detected"] else "not detected"
            if r["detected"]:
                found.append((name, r))
    usable, why = _trustmark_status()
    if usable:  # pragma: no cover - needs weights
        try:
            tm = _trustmark_decode(img)
            details["trustmark"] = tm
            checked["trustmark"] = "detected" if tm["detected"] else "not detected"
            if tm["detected"]:
                found.append(("trustmark", {"p_value": None}))
        except Exception as exc:
            checked["trustmark"] = f"not checked: decoder failed ({type(exc).__name__}: {exc})"
    else:
        checked["trustmark"] = why
    tm_note = "" if usable else " TrustMark not checked: weights not available."
    if found:
        name, r = min(found, key=lambda f: f[1].get("p_value") or 0.0)
        more = f" (also {', '.join(n for n, _ in found if n != name)})" if len(found) > 1 else ""
        bits = f" {r['matched_bits']}/{r['n_bits']} bits match" if "matched_bits" in r else ""
        p = r.get("p_value")
        return Evidence(analyzer="known-watermark", kind="watermark", verdict=name, score=r.get("matched_bits", 0) / max(1, r.get("n_bits", 1)),
                        p_value=p, strength="strong",
                        summary=f"{name} invisible watermark found:{bits} (p={p:.2g}, FPR {fpr:g}){more}.{tm_note}" if p is not None
                        else f"{name} invisible watermark found{more}.{tm_note}",
                        details={**details, "mark": name})
    ps = [r["p_value"] for k, r in details.items() if k in MARKS and isinstance(r, dict)]
    if not ps:
        return Evidence(analyzer="known-watermark", kind="watermark", verdict="absent", strength="none",
                        summary=f"Image too small for the SD/SDXL marks.{tm_note}", details=details)
    best = min(ps)
    return Evidence(analyzer="known-watermark", kind="watermark", verdict="absent", p_value=best, strength="none",
                    summary=f"No SD or SDXL watermark (best p={best:.2g} > FPR {fpr:g}).{tm_note}", details=details)
