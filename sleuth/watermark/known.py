"""Known invisible watermarks (``known-watermark``): Stable Diffusion v1/v2, SDXL, TrustMark.

Design
------
* **The marks.** SD v1/v2 (CompVis/Stability scripts) embed the 17 bytes ``StableDiffusionV1``
  (136 bits) and SDXL (generative-models, diffusers) the 48-bit message
  ``0b101100111110110010010000011110111011000110011110``, both with invisible-watermark's
  ``dwtDct``: U channel of OpenCV's YUV, one Haar DWT level, LL band cut into 4 x 4 blocks;
  block *n* carries bit ``n mod L`` in the magnitude modulo 36 of its largest entry (entry 0
  excluded), set to 9 (bit 0) or 27 (bit 1).
* **Pipeline geometries.** How the pipeline hands the image to the encoder changes where the
  mark lives (:data:`GEOMETRIES`): the SD scripts pass uint8 BGR (U centred on 128),
  generative-models float32 BGR (U centred on 0.5, so magnitudes differ by 255 in LL units),
  diffusers float32 *RGB as if it were BGR* (the mark sits in the red-difference channel). The
  reference decoder only reads the first; the soft detector tests every geometry a mark is
  known to use.
* **Reference decoder** (kept, bit-identical to ``imwatermark.EmbedMaxDct.decode``, vectorised):
  hard per-block bits, averaged per bit index; p-value = binomial tail of matching bits.
* **Soft detector.** Per block the phase of the largest magnitude v gives the score
  ``-sin(2 pi v / 36)`` (+1 at 27, -1 at 9): no thresholding, so partial evidence in every block
  counts. Blocks whose pixels clipped (a channel at 0 or 255, where the embedding could not
  take effect) are down-weighted. The score is correlated with the known message (signs
  centred within cells of a tile, so flat regions and JPEG chroma grids cancel) and
  studentised over 32 x 32-pixel tiles (neighbouring blocks are correlated in photos, tiles
  much less), giving a Student-t statistic with the effective number of tiles as degrees of
  freedom (:func:`soft_z`). Two reads per geometry: the pixels as they are, and with a JPEG
  decoder's fancy chroma upsampling undone (:func:`_unsmear`; 4:2:0 chroma sits exactly on the
  Haar LL grid). The null variance of every (geometry, read) is measured on unmarked real photos
  and stored in ``sleuth/data/known_marks_null.json`` (:func:`fit_null`, command and data
  manifest recorded there); p-values are Bonferroni-corrected over the combinations, and the
  decision p-value is ``2 min(p_reference, p_soft)``.
* **Decision** at option ``known_watermark_fpr`` (default 1e-6). Images under 256 x 256 (the encoder's minimum)
  are not checked and say so.
* **TrustMark** (Adobe): decoded from a cached ONNX decoder (:mod:`.trustmark`; option
  ``known_watermark_trustmark_model`` or the cache), else with the ``trustmark`` package when
  all its weight files are already beside it; otherwise ``details.checked.trustmark`` and the
  summary say "not checked: weights not available" (never a silent pass). No download is tried.

Measured rates (found / total per protocol, null false-positive rates) are in
docs/benchmarks.md, section ``watermark``.
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


# ----------------------------------------------------------------------------- soft detector

# How each public pipeline hands the image to invisible-watermark's encoder: the channel order it
# passes as "BGR" and whether the array is uint8 (U centred on 128) or float32 (U centred on 0.5).
GEOMETRIES: dict[str, tuple[str, bool]] = {
    "uint8-bgr": ("bgr", True),    # CompVis / Stability SD v1/v2 scripts, InvokeAI: uint8, true BGR
    "float-bgr": ("bgr", False),   # Stability generative-models (SDXL): float32 0-255, true BGR
    "float-rgb": ("rgb", False),   # diffusers StableDiffusionXLWatermarker: float32 RGB passed as BGR
}
MARK_GEOMETRIES: dict[str, tuple[str, ...]] = {
    "stable-diffusion": ("uint8-bgr",),
    "sdxl": ("uint8-bgr", "float-bgr", "float-rgb"),
}
# a JPEG decoder's "fancy" chroma upsampling turns each 2x2 average (the Haar LL band) into
# (c[i-1] + 6 c[i] + c[i+1]) / 8 per axis; its inverse has taps sqrt(2) r^|k|, r = 2 sqrt(2) - 3
_R = 2.0 * math.sqrt(2.0) - 3.0
UNSMEAR_TAPS = np.array([math.sqrt(2.0) * _R ** abs(k) for k in range(-4, 5)])
READS = ("raw", "unsmear")
CLIPPED_WEIGHT = 0.25
TILE = 4  # blocks per tile side for the cluster-robust variance (32 x 32 pixels)
CALIBRATION_FILE = Path(__file__).resolve().parents[1] / "data" / "known_marks_null.json"
_CAL: dict[str, Any] = {}


def _u_plane(rgb: np.ndarray, order: str) -> np.ndarray:
    """cv2's float U channel (centred on 0.5) of the image as the encoder saw it, cut to a multiple of 4."""
    import cv2

    h, w = rgb.shape[:2]
    f = np.ascontiguousarray(rgb[: h // 4 * 4, : w // 4 * 4], dtype=np.float32)
    return cv2.cvtColor(f, cv2.COLOR_RGB2YUV if order == "bgr" else cv2.COLOR_BGR2YUV)[..., 1]


def _haar_ll(u: np.ndarray) -> np.ndarray:
    """Haar approximation band (2 x the 2x2 mean) of a plane whose sides are even."""
    import cv2

    h, w = u.shape
    return 2.0 * cv2.resize(np.ascontiguousarray(u), (w // 2, h // 2), interpolation=cv2.INTER_AREA)


def _unsmear(ll: np.ndarray) -> np.ndarray:
    import cv2

    k = UNSMEAR_TAPS.astype(np.float32).reshape(-1, 1)
    return cv2.sepFilter2D(ll, cv2.CV_32F, k, k, borderType=cv2.BORDER_REFLECT)


def _clipped_ll(rgb: np.ndarray) -> np.ndarray:
    """True where any pixel of the 2x2 patch behind an LL entry has a channel at 0 or 255."""
    import cv2

    h, w = rgb.shape[:2]
    ok = np.asarray(cv2.inRange(np.ascontiguousarray(rgb[: h // 4 * 4, : w // 4 * 4]), (1, 1, 1), (254, 254, 254))) > 0
    ok = ok[0::2, 0::2] & ok[1::2, 0::2] & ok[0::2, 1::2] & ok[1::2, 1::2]
    return ok == 0


def _block_phase(ll: np.ndarray, clipped: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per 4x4 LL block: soft bit score -sin(2 pi v / 36) of the largest |entry| v (entry 0
    excluded, as the encoder), its weight (CLIPPED_WEIGHT where that entry's 2x2 pixels clipped)
    and its cell id (see :func:`soft_z`); blocks in the encoder's order."""
    h, w = ll.shape
    nbh, nbw = h // BLOCK, w // BLOCK
    q = ll[: nbh * BLOCK, : nbw * BLOCK].reshape(nbh, BLOCK, nbw, BLOCK)
    qc = clipped[: nbh * BLOCK, : nbw * BLOCK].reshape(nbh, BLOCK, nbw, BLOCK)
    best = np.full((nbh, nbw), -1.0, np.float32)
    clip = np.zeros((nbh, nbw), bool)
    for e in range(1, BLOCK * BLOCK):  # first maximum wins, as numpy's argmax in the encoder
        v = np.abs(q[:, e // BLOCK, :, e % BLOCK])
        up = v > best
        best = np.where(up, v, best)
        clip = np.where(up, qc[:, e // BLOCK, :, e % BLOCK], clip)
    score = -np.sin((2.0 * np.pi / SCALE) * best.astype(np.float64)).ravel()
    weight = np.where(clip.ravel(), CLIPPED_WEIGHT, 1.0)
    bi, bj = np.divmod(np.arange(nbh * nbw), nbw)
    tile = (bi // TILE) * (-(-nbw // TILE)) + bj // TILE
    # cells: a tile's blocks split by row and column parity, so that a JPEG 4:2:0 chroma grid
    # (16 pixels = 2 blocks) seen through a block-periodic message cancels as well
    cell = 4 * tile + 2 * (bi % 2) + bj % 2
    return score, weight, cell


def soft_z(score: np.ndarray, weight: np.ndarray, cell: np.ndarray, bits: np.ndarray) -> tuple[float, int]:
    """Correlation of the block scores with the known message, studentised over tiles.

    Block n carries bit ``n mod len(bits)``. The expected signs are centred within each cell
    (``cell // 4`` is the tile of TILE x TILE blocks, ``cell % 4`` the block-row/column parity), so
    that any level of the scores shared by a cell (a flat or saturated region, a JPEG chroma
    grid) cancels; each tile contributes its weighted correlation T_g and z = sum T_g over the
    cluster-robust standard error sqrt(G / (G - 1) sum (T_g - mean T)^2): neighbouring blocks are
    correlated in real photos, tiles much less. Under the null z is close to Student t with
    (effective tiles - 1) degrees of freedom; :func:`soft_pvalue` uses that, with the variance
    inflation measured on real photos.

    Parameters
    ----------
    score, weight : numpy.ndarray
        Per-block soft scores in [-1, 1] and weights, in the encoder's block order.
    cell : numpy.ndarray
        Per-block cell id (non-negative integers, tile = cell // 4).
    bits : numpy.ndarray
        The known message bits (0/1).

    Returns
    -------
    (float, int)
        z and the effective number of tiles (Kish, from the tiles' within-cell variances; at most
        the number of tiles G; z is 0.0 when G < 2).
    """
    n = score.shape[0]
    c = 2.0 * bits[np.arange(n) % bits.size] - 1.0
    wsum = np.bincount(cell, weights=weight)
    has = wsum > 0
    wdiv = np.where(has, wsum, 1.0)
    cc = c - (np.bincount(cell, weights=weight * c) / wdiv)[cell]
    tile = cell // 4
    tg_all = np.bincount(tile, weights=weight * score * cc)
    ok = np.bincount(tile, weights=weight) > 0
    g = int(ok.sum())
    if g < 2:
        return 0.0, g
    tg = tg_all[ok]
    t = float(tg.sum())
    v = float(g / (g - 1) * np.square(tg - t / g).sum())
    # tiles differ in how much they can contribute (flat tiles nothing): the effective number of
    # tiles (Kish) from each tile's within-cell variance sets the degrees of freedom
    resid = score - (np.bincount(cell, weights=weight * score) / wdiv)[cell]
    sg = np.bincount(tile, weights=np.square(weight * resid * cc))[ok]
    g_eff = float(sg.sum() ** 2 / max(np.square(sg).sum(), 1e-300)) if sg.sum() > 0 else 0.0
    return (t / math.sqrt(v) if v > 1e-12 else 0.0), min(g, int(g_eff))


def soft_statistics(rgb: np.ndarray) -> dict[str, dict[str, tuple[float, int]]]:
    """z of every (mark, geometry, read) combination, from one U plane per channel order.

    Parameters
    ----------
    rgb : numpy.ndarray
        H x W x 3 uint8 image.

    Returns
    -------
    dict
        ``{mark: {"<geometry>/<read>": (z, tiles)}}``; reads are the pixels as they are ("raw")
        and with a JPEG decoder's chroma upsampling undone ("unsmear").
    """
    clipped = _clipped_ll(rgb)
    out: dict[str, dict[str, tuple[float, int]]] = {m: {} for m in MARK_GEOMETRIES}
    for order in ("bgr", "rgb"):
        geos = [g for g, (o, _) in GEOMETRIES.items() if o == order]
        if not any(g in MARK_GEOMETRIES[m] for m in MARK_GEOMETRIES for g in geos):
            continue
        ll = _haar_ll(_u_plane(rgb, order))
        views = {"raw": ll, "unsmear": _unsmear(ll)}
        for g in geos:
            offset = 255.0 if GEOMETRIES[g][1] else 0.0  # uint8 U = float U + 127.5; LL doubles it
            for read, plane in views.items():
                score, weight, cell = _block_phase(plane + offset, clipped)
                for m, allowed in MARK_GEOMETRIES.items():
                    if g in allowed:
                        out[m][f"{g}/{read}"] = soft_z(score, weight, cell, MARKS[m])
    return out


def _calibration() -> dict[str, Any]:
    if not _CAL:
        import json

        try:
            _CAL.update(json.loads(CALIBRATION_FILE.read_text()))
        except (OSError, ValueError):
            _CAL["variance"] = {}
    return _CAL


def _t_upper(z: float, df: int) -> float:
    from scipy.special import stdtr

    return float(stdtr(max(1, df), -z))


def normal_equivalent(z: float, df: int) -> float:
    """The N(0, 1) quantile with the same upper tail as Student t(df) at z."""
    from scipy.special import ndtri

    return float(-ndtri(max(_t_upper(z, df), 1e-300)))


def soft_pvalue(mark: str, zs: dict[str, tuple[float, int]]) -> tuple[float, str]:
    """One-sided p-value of the best (geometry, read) z, Bonferroni-corrected over all of them.

    Each z (Student t with tiles - 1 degrees of freedom under the null) is first divided by the
    square root of its null variance inflation measured on real photos
    (``sleuth/data/known_marks_null.json``, made by :func:`fit_null`; 1.0 when the file is absent
    or the measured value is below 1).

    Parameters
    ----------
    mark : str
        A key of :data:`MARKS`.
    zs : dict
        ``{"<geometry>/<read>": (z, tiles)}`` from :func:`soft_statistics`.

    Returns
    -------
    (float, str)
        The corrected p-value and the name of the best combination.
    """
    var = _calibration().get("variance", {}).get(mark, {})
    best, name = 1.0, ""
    for k, (z, g) in zs.items():
        p = _t_upper(z / math.sqrt(max(1.0, float(var.get(k, 1.0)))), g - 1) if g >= 2 else 1.0
        if p < best or not name:
            best, name = p, k
    return min(1.0, best * max(1, len(zs))), name


def null_views(rgb: np.ndarray, seed: int) -> list[np.ndarray]:
    """The unmarked views the null is measured on: the image, a (3, 5)-pixel shift, a random 75% crop.

    Parameters
    ----------
    rgb : numpy.ndarray
        H x W x 3 uint8 image.
    seed : int
        Seed of the crop position.

    Returns
    -------
    list of numpy.ndarray
        The views at least 256 x 256 pixels in area.
    """
    h, w = rgb.shape[:2]
    rng = np.random.default_rng(seed)
    ch, cw = int(h * 0.75), int(w * 0.75)
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    views = [rgb, rgb[3:, 5:], rgb[y0:y0 + ch, x0:x0 + cw]]
    return [np.ascontiguousarray(v) for v in views if v.shape[0] * v.shape[1] >= MIN_PIXELS]


def fit_null(images, command: str, manifest_sha256: str, out: Path | None = CALIBRATION_FILE) -> dict[str, Any]:
    """Measure the null variance of every soft z on unmarked images and store it (atomically).

    Parameters
    ----------
    images : iterable of numpy.ndarray
        Unmarked H x W x 3 uint8 images (views of real photos, e.g. from :func:`null_views`).
    command : str
        The command that produced the calibration (recorded in the file).
    manifest_sha256 : str
        sha256 of the data manifest(s) the images came from (recorded).
    out : pathlib.Path or None
        Where to write the JSON; None writes nothing.

    Returns
    -------
    dict
        ``{"variance": {mark: {key: var}}, "n": count, "max_abs_z": {...}, ...}``, computed on
        the N(0, 1)-equivalent of each z (:func:`normal_equivalent`).
    """
    import datetime

    zs: dict[str, dict[str, list[float]]] = {}
    for rgb in images:
        for m, d in soft_statistics(rgb).items():
            for k, (z, g) in d.items():
                zs.setdefault(m, {}).setdefault(k, []).append(normal_equivalent(z, g - 1) if g >= 2 else 0.0)
    cal = {"variance": {m: {k: round(float(np.mean(np.square(v))), 4) for k, v in d.items()} for m, d in zs.items()},
           "max_abs_z": {m: {k: round(float(np.max(np.abs(v))), 3) for k, v in d.items()} for m, d in zs.items()},
           "n": int(min(len(v) for d in zs.values() for v in d.values())) if zs else 0,
           "command": command, "manifest_sha256": manifest_sha256,
           "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
           "note": "null variance of the N(0,1)-equivalent soft z per (geometry/read) on unmarked "
                   "real-photo views; p-values divide z by sqrt(max(1, variance))"}
    if out is not None:
        from ..util import atomic_write_text, dumps

        atomic_write_text(out, dumps(cal, indent=1) + "\n")
        _CAL.clear()
    return cal


def check_marks(rgb: np.ndarray, fpr: float = DEFAULT_FPR) -> dict[str, dict[str, Any]]:
    """Test every known dwtDct mark with the reference-equivalent hard decoder and the soft detector.

    The decision p-value is ``min(1, 2 min(p_hard, p_soft))``: the binomial tail of the
    reference decoder's matching bits and the soft detector's corrected p, Bonferroni over the two.

    Parameters
    ----------
    rgb : numpy.ndarray
        H x W x 3 uint8 image.
    fpr : float
        Decision threshold on the p-value.

    Returns
    -------
    dict
        Per mark: matched_bits, n_bits, p_hard, soft_z, p_soft, geometry, p_value, detected.
    """
    scores = block_scores(rgb, rgb=True)
    soft = soft_statistics(rgb)
    out = {}
    for name, bits in MARKS.items():
        n = int(bits.size)
        got = decode_bits(scores, n)
        k = int((got == bits).sum())
        p_hard = binom_pvalue(k, n)
        p_soft, which = soft_pvalue(name, soft[name])
        p = min(1.0, 2.0 * min(p_hard, p_soft))
        out[name] = {"matched_bits": k, "n_bits": n, "p_hard": p_hard, "soft_z": round(soft[name][which][0], 3),
                     "p_soft": p_soft, "geometry": which, "p_value": p, "detected": bool(p <= fpr)}
    return out


def reference_embed(rgb: np.ndarray, mark: str, geometry: str = "uint8-bgr") -> np.ndarray:
    """Mark an image with invisible-watermark's own dwtDct encoder, as a public pipeline does.

    Used by tests and the benchmark to make marked images; needs the ``imwatermark`` package (or
    its carrier in the model cache).

    Parameters
    ----------
    rgb : numpy.ndarray
        H x W x 3 uint8 image, at least 256 x 256.
    mark : str
        ``"stable-diffusion"`` or ``"sdxl"``.
    geometry : str
        A key of :data:`GEOMETRIES`: ``uint8-bgr`` (SD scripts: uint8 BGR in, uint8 out),
        ``float-bgr`` (generative-models: float32 BGR, saved with truncation), ``float-rgb``
        (diffusers: float32 RGB passed as BGR, saved with rounding).

    Returns
    -------
    numpy.ndarray
        The marked H x W x 3 uint8 image.
    """
    from .methods import reference_dwtdct

    order, is_u8 = GEOMETRIES[geometry]
    bits = MARKS[mark]
    enc = reference_dwtdct()(watermarks=[int(b) for b in bits], wmLen=int(bits.size))
    src = rgb[:, :, ::-1] if order == "bgr" else rgb
    src = np.ascontiguousarray(src if is_u8 else src.astype(np.float32))
    out = enc.encode(src)
    out = out[:, :, ::-1] if order == "bgr" else out
    if is_u8:
        return np.ascontiguousarray(np.clip(out, 0, 255).astype(np.uint8))
    out = np.clip(out.astype(np.float64), 0.0, 255.0)
    return np.ascontiguousarray((np.rint(out) if geometry == "float-rgb" else out).astype(np.uint8))


def _trustmark_status(model: str | None = None) -> tuple[str | None, str]:
    """(backend, reason): "onnx:<path>" for a cached ONNX decoder, "package" for the trustmark
    package with its checkpoints already beside it, None (with the reason) otherwise."""
    from .trustmark import find_decoder

    onnx = find_decoder(model)
    if onnx is not None:
        return f"onnx:{onnx}", str(onnx)
    spec = importlib.util.find_spec("trustmark")
    if spec is None or not spec.submodule_search_locations:
        return None, "not checked: weights not available (no TrustMark decoder ONNX in the cache, trustmark package not installed)"
    # trustmark keeps (and on first use downloads) its weights beside its code, in models/; we only
    # construct it when every file of the Q variant is already there, so it never downloads
    for loc in spec.submodule_search_locations:
        d = Path(loc) / "models"
        if all((d / f).is_file() for f in TRUSTMARK_FILES):
            return "package", str(d)
    return None, "not checked: weights not available (TrustMark Q weights not in the cache or the trustmark package's models/)"


TRUSTMARK_FILES = ("trustmark_Q.yaml", "decoder_Q.ckpt", "encoder_Q.ckpt", "trustmark_rm_Q.yaml", "trustmark_rm_Q.ckpt")
_TM: dict[str, Any] = {}


def _trustmark_decode(img: LoadedImage, backend: str, fpr: float) -> dict[str, Any]:
    if backend.startswith("onnx:"):
        from .trustmark import decode

        r = decode(img.rgb, backend[5:])
        return {**r, "detected": bool(r["ecc_ok"] and r["p_value"] <= fpr), "backend": "onnx"}
    if "tm" not in _TM:  # pragma: no cover - needs the trustmark package and its weights
        from trustmark import TrustMark

        _TM["tm"] = TrustMark(verbose=False, model_type="Q")
    secret, present, schema = _TM["tm"].decode(img.to_pil().convert("RGB"))  # pragma: no cover
    return {"detected": bool(present), "secret": secret if present else None, "schema": schema, "backend": "package"}  # pragma: no cover


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
    backend, why = _trustmark_status(ctx.get("known_watermark_trustmark_model"))
    usable = backend is not None
    if backend is not None:
        try:
            tm = _trustmark_decode(img, backend, fpr)
            details["trustmark"] = tm
            checked["trustmark"] = "detected" if tm["detected"] else (
                f"decoded (ECC ok) but p={tm['p_value']:.2g} > FPR" if tm.get("ecc_ok") else "not detected")
            if tm["detected"]:
                found.append(("trustmark", {"p_value": tm.get("p_value")}))
        except Exception as exc:  # noqa: BLE001 - any decoder failure is reported, never a crash
            checked["trustmark"] = f"not checked: decoder failed ({type(exc).__name__}: {exc})"
    else:
        checked["trustmark"] = why
    tm_note = "" if usable else " TrustMark not checked: weights not available."
    if found:
        name, r = min(found, key=lambda f: f[1].get("p_value") or 0.0)
        more = f" (also {', '.join(n for n, _ in found if n != name)})" if len(found) > 1 else ""
        bits = (f" soft z {r['soft_z']:.1f} ({r['geometry']}), reference decoder {r['matched_bits']}/{r['n_bits']} bits"
                if "matched_bits" in r else "")
        p = r.get("p_value")
        return Evidence(analyzer="known-watermark", kind="watermark", verdict=name, score=r.get("matched_bits", 0) / max(1, r.get("n_bits", 1)),
                        p_value=p, strength="strong",
                        summary=f"{name} invisible watermark found:{bits} (p={p:.2g}, FPR {fpr:g}){more}.{tm_note}" if p is not None
                        else f"{name} invisible watermark found{more}.{tm_note}",
                        details={**details, "mark": name})
    ps = [r["p_value"] for k, r in details.items() if k in MARKS and isinstance(r, dict)]
    if not ps:
        return Evidence(analyzer="known-watermark", kind="watermark", verdict="no-evidence", strength="none",
                        summary=f"Image too small for the SD/SDXL marks.{tm_note}", details=details)
    best = min(ps)
    return Evidence(analyzer="known-watermark", kind="watermark", verdict="no-evidence", p_value=best, strength="none",
                    summary=f"No SD or SDXL watermark (best p={best:.2g} > FPR {fpr:g}).{tm_note}", details=details)
