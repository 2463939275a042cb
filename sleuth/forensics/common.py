"""Shared pieces of the forensic analyzers: the result type, reliability, tiling, JPEG helpers.

Design
------
* Every analyzer returns a :class:`Result`: a heatmap (on its own block grid, float in [0,1],
  white = suspicious), a raw score (higher = more suspicious), a per-block reliability map
  and a reliability flag with a reason. Maps are upsampled to the image size only when an
  Evidence item or a PNG needs them, so a 100 MP image never holds seven float32 full-size maps.
* Block-local analyzers (ELA, noise, JPEG ghost, double quantisation, resampling) compute
  per-block *features* tile by tile (tiles aligned to 64 px, so to the JPEG 8x8/16x16 grid)
  and normalise them globally afterwards: memory is bounded by the tile size (2048 px side:
  about 50 MB of float32 per tile) and the result does not depend on the tiling.
* Reliability: flat blocks (grey std < 1.0) and saturated blocks (> 30% of pixels at 0 or
  255) say little about noise, ELA or resampling; they get weight 0 and are left out of the
  robust statistics. An image under 64x64 pixels, or with under 16 usable blocks, gives
  "not enough signal" rather than a verdict.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

MIN_SIDE = 64
MIN_BLOCKS = 16
TILE = 2048
FLAT_STD = 1.0
SAT_FRAC = 0.3


class NotEnoughSignal(Exception):
    """Raised by an analyzer when the image cannot support a verdict."""


class Skip(Exception):
    """Raised by an analyzer that does not apply to this input (e.g. JPEG-only on a PNG)."""


@dataclass
class Result:
    name: str
    heat: np.ndarray | None = None  # block grid (or full size), float32 in [0,1]
    score: float | None = None  # raw score, higher = more suspicious
    reliability: np.ndarray | None = None  # same grid as heat, [0,1]
    reliable: bool = True
    reason: str = ""
    status: str = "ok"  # ok | skipped | not-enough-signal
    details: dict = field(default_factory=dict)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    extra_maps: dict[str, np.ndarray] = field(default_factory=dict)

    def full_map(self, h: int, w: int, which: np.ndarray | None = None) -> np.ndarray:
        return upsample(self.heat if which is None else which, h, w)


def upsample(m: np.ndarray | None, h: int, w: int, max_pixels: int = 12_000_000) -> np.ndarray:
    """Block map -> HxW float32 (bilinear). Above ``max_pixels`` the map keeps the aspect at a
    smaller size (callers that need exact size for PNGs use :func:`upsample_u8_rows`)."""
    import cv2

    if m is None:
        return np.zeros((h, w), np.float32)
    if h * w > max_pixels:
        s = (max_pixels / (h * w)) ** 0.5
        h, w = max(1, int(h * s)), max(1, int(w * s))
    m = np.asarray(m, np.float32)
    if m.shape == (h, w):
        return np.clip(m, 0, 1)
    return np.clip(cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR), 0, 1)


def gray_f32(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def block_view(a: np.ndarray, b: int) -> np.ndarray:
    """(H, W, ...) -> (H//b, W//b, b, b, ...) view of full blocks."""
    h, w = a.shape[:2]
    gh, gw = h // b, w // b
    a = a[: gh * b, : gw * b]
    return a.reshape(gh, b, gw, b, *a.shape[2:]).swapaxes(1, 2)


def block_mean(a: np.ndarray, b: int) -> np.ndarray:
    """Mean over full b x b blocks: (H, W[, C]) -> (H//b, W//b[, C]) float32.

    ``cv2.resize(..., INTER_AREA)`` at an integer factor is the exact box mean; it replaced a
    NumPy reshape-mean that took most of the time of ELA and JPEG ghosts (measured in
    bench/forensics.py, timing table)."""
    import cv2

    h, w = a.shape[:2]
    gh, gw = h // b, w // b
    a = np.ascontiguousarray(a[: gh * b, : gw * b], dtype=np.float32)
    if a.ndim == 3 and a.shape[2] > 4:
        return np.stack([block_mean(a[..., i], b) for i in range(a.shape[2])], axis=-1)
    out = cv2.resize(a, (gw, gh), interpolation=cv2.INTER_AREA)
    return out.reshape(gh, gw, *a.shape[2:])


def block_std(gray: np.ndarray, b: int) -> np.ndarray:
    """Standard deviation over full b x b blocks (float32)."""
    g = gray.astype(np.float32)
    m = block_mean(g, b)
    return np.sqrt(np.maximum(block_mean(g * g, b) - m * m, 0))


def block_reliability(gray: np.ndarray, b: int) -> np.ndarray:
    """1 where a block is textured and unsaturated, 0 where flat or clipped."""
    std = block_std(gray, b)
    sat = block_mean(((gray <= 2) | (gray >= 253)).astype(np.float32), b)
    return ((std >= FLAT_STD) & (sat <= SAT_FRAC)).astype(np.float32)


def block_error(rgb: np.ndarray, other: np.ndarray, b: int, square: bool = False) -> np.ndarray:
    """Mean over channels and b x b blocks of |rgb - other| (or its square), float32."""
    import cv2

    d = cv2.absdiff(rgb, other).astype(np.float32)
    if square:
        d = d * d
    m = block_mean(d, b)
    return m.mean(axis=2) if m.ndim == 3 else m


def check_size(rgb: np.ndarray) -> None:
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise NotEnoughSignal(f"image is {w}x{h}, under {MIN_SIDE} px on a side")
    g = rgb if rgb.ndim == 2 else rgb.reshape(-1, rgb.shape[-1])
    if float(np.ptp(g[:: max(1, g.shape[0] // 200_000)], axis=0).max()) < 3:
        raise NotEnoughSignal("image is a single colour")


def tiled_features(rgb: np.ndarray, block: int, fn: Callable[[np.ndarray], np.ndarray], tile: int = TILE) -> np.ndarray:
    """Run ``fn(tile_rgb) -> (th//block, tw//block, k)`` over tiles aligned to 64 px and stitch."""
    h, w = rgb.shape[:2]
    tile = max(64, tile - tile % 64)
    gh, gw = h // block, w // block
    out = None
    for y0 in range(0, gh * block, tile):
        for x0 in range(0, gw * block, tile):
            y1, x1 = min(y0 + tile, gh * block), min(x0 + tile, gw * block)
            f = fn(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
            if f.ndim == 2:
                f = f[..., None]
            if out is None:
                out = np.zeros((gh, gw, f.shape[-1]), np.float32)
            by, bx = y0 // block, x0 // block
            out[by: by + f.shape[0], bx: bx + f.shape[1]] = f[: gh - by, : gw - bx]
    if out is None:
        raise NotEnoughSignal("image too small for the analysis block size")
    return out


def jpeg_roundtrip(rgb: np.ndarray, quality: int, subsampling: int = 2) -> np.ndarray:
    """Encode with libjpeg at ``quality`` (4:2:0 when ``subsampling`` is 2, else 4:4:4) and decode
    back (uint8 RGB). OpenCV's codec, not Pillow's: same IJG tables, less copying."""
    import cv2

    flag = cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420 if subsampling == 2 else cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality), cv2.IMWRITE_JPEG_SAMPLING_FACTOR, flag])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    dec = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if dec is None:
        raise RuntimeError("JPEG decoding failed")
    return cv2.cvtColor(dec, cv2.COLOR_BGR2RGB)


# IJG standard luminance table (quality 50), natural order
STD_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], np.float64).reshape(8, 8)


def ijg_table(q: int) -> np.ndarray:
    q = int(np.clip(q, 1, 100))
    s = 5000 / q if q < 50 else 200 - 2 * q
    return np.clip(np.floor((STD_LUMA * s + 50) / 100), 1, 255)


def luma_qtable(img) -> np.ndarray | None:
    """The luminance quantisation table (8x8, natural order) of a JPEG, else None."""
    try:
        q = getattr(img.pil, "quantization", None) or {}
        t = q.get(0)
        return None if t is None else np.asarray(t, np.float64).reshape(8, 8)
    except Exception:
        return None


def estimate_quality(table: np.ndarray | None) -> int | None:
    """Nearest IJG quality for a luminance table (None when not a JPEG)."""
    if table is None:
        return None
    errs = [np.abs(np.log(ijg_table(q)) - np.log(table)).mean() for q in range(1, 101)]
    return int(np.argmin(errs) + 1)


def robust_z(x: np.ndarray, mask: np.ndarray | None = None, min_scale: float = 1e-6) -> np.ndarray:
    ref = x[mask > 0] if mask is not None and (mask > 0).sum() >= MIN_BLOCKS else x.ravel()
    med = np.median(ref)
    mad = max(float(np.median(np.abs(ref - med)) * 1.4826), min_scale)
    return (x - med) / mad


def smooth(m: np.ndarray, k: int = 3, weight: np.ndarray | None = None) -> np.ndarray:
    """Box mean over k x k blocks, optionally weighted (unreliable blocks do not count)."""
    import cv2

    m = m.astype(np.float32)
    if weight is None:
        return cv2.blur(m, (k, k), borderType=cv2.BORDER_REFLECT)
    wgt = weight.astype(np.float32)
    num = cv2.blur(m * wgt, (k, k), borderType=cv2.BORDER_REFLECT)
    den = cv2.blur(wgt, (k, k), borderType=cv2.BORDER_REFLECT)
    return np.where(den > 1e-3, num / np.maximum(den, 1e-3), 0).astype(np.float32)


def timed(name: str, fn: Callable[[], Result]) -> Result:
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        r = fn()
    except NotEnoughSignal as exc:
        r = Result(name=name, status="not-enough-signal", reliable=False, reason=f"not enough signal: {exc}")
    except Skip as exc:
        r = Result(name=name, status="skipped", reliable=False, reason=str(exc))
    r.seconds = time.perf_counter() - t0
    r.cpu_seconds = time.process_time() - c0
    return r


def drop_border(rel: np.ndarray) -> np.ndarray:
    """Reliability without the outer ring of blocks when the grid is large enough: image borders
    (partial JPEG MCUs, vignetting, scanner frames) were the top false alarms of ELA on
    pristine development photos."""
    if min(rel.shape) >= 8:
        rel = rel.copy()
        rel[0, :] = rel[-1, :] = 0
        rel[:, 0] = rel[:, -1] = 0
    return rel


def top_mean(x: np.ndarray, mask: np.ndarray | None = None, frac: float = 0.02) -> float:
    """Mean of the highest ``frac`` of values (at least one)."""
    v = x[mask > 0] if mask is not None and (mask > 0).any() else x.ravel()
    if v.size == 0:
        return 0.0
    k = max(1, int(round(v.size * frac)))
    return float(np.mean(np.partition(v, v.size - k)[v.size - k:]))

