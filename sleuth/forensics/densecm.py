"""Dense-field copy-move detection (Cozzolino, Poggi and Verdoliva, IEEE TIFS 2015), beside the
keypoint method of :mod:`.copymove`.

Design
------
* Grey image downscaled to at most 384 px on the long side (bounded work for any input; a
  clone worth reporting covers thousands of pixels at that scale).
* Features: magnitudes of the Zernike moments up to order 5 (12 of them) of the disc of radius
  8 px around every pixel, computed as 2-D correlations with the complex Zernike kernels
  (``cv2.filter2D``); a magnitude does not change when the disc is rotated, so rotated clones
  match.
* Matching: PatchMatch (Barnes et al. 2009) on the feature field, vectorised over all pixels:
  random initial offsets, then rounds of propagation from the 4 neighbours at distances 1, 2
  and 4 and random search at shrinking radii; offsets shorter than 12 px are forbidden (a
  patch always resembles its neighbours).
* Post-processing as in the paper: 5x5 median filter of the offset field, *dense linear
  fitting* (the residual of a least-squares affine fit of the offset field over each 7x7
  window, computed with box filters: a copy-move gives a smooth, locally affine field, a
  chance match a noisy one), threshold, removal of regions under 0.4% of the image and of
  regions whose matches have no coherent offset, and mirroring (the matched targets are
  marked too), then a dilation.
* Verification (similar but genuine objects, the COVERAGE difficulty): Zernike magnitudes of
  two similar objects also match, but a copy matches pixel for pixel. For each region a
  global affine map is fitted (RANSAC) to its matches, the image is warped onto itself and
  the local normalised cross-correlation of grey values is measured inside the region; only
  pixels with NCC >= 0.8 stay. The score is the verified area in per cent of the image.
"""
from __future__ import annotations

import numpy as np

from .common import Result, check_size

MAX_SIDE = 384
RADIUS = 8
ORDER = 5
MIN_SHIFT = 12
MIN_REGION = 0.004
DLF_EPS = 0.5
NCC_MIN = 0.8


def _radial(n: int, m: int, rho: np.ndarray) -> np.ndarray:
    from math import factorial

    out = np.zeros_like(rho)
    for s in range((n - m) // 2 + 1):
        c = (-1) ** s * factorial(n - s) / (factorial(s) * factorial((n + m) // 2 - s) * factorial((n - m) // 2 - s))
        out += c * rho ** (n - 2 * s)
    return out


def zernike_kernels(radius: int = RADIUS, order: int = ORDER) -> list[tuple[np.ndarray, np.ndarray]]:
    """Real and imaginary parts of the Zernike kernels V*_nm on a disc, n <= order, m >= 0."""
    y, x = np.mgrid[-radius: radius + 1, -radius: radius + 1].astype(np.float64)
    rho = np.hypot(x, y) / (radius + 0.5)
    th = np.arctan2(y, x)
    disc = rho <= 1
    ks = []
    for n in range(order + 1):
        for m in range(n % 2, n + 1, 2):
            r = _radial(n, m, rho) * disc * (n + 1) / np.pi / disc.sum()
            ks.append(((r * np.cos(m * th)).astype(np.float32), (-r * np.sin(m * th)).astype(np.float32)))
    return ks


_KERNELS = zernike_kernels()


def features(g: np.ndarray) -> np.ndarray:
    """(H, W) grey float32 -> (H, W, 12) Zernike magnitudes, standardised per channel."""
    import cv2

    mags = []
    for kr, ki in _KERNELS:
        a = cv2.filter2D(g, cv2.CV_32F, kr, borderType=cv2.BORDER_REFLECT)
        b = cv2.filter2D(g, cv2.CV_32F, ki, borderType=cv2.BORDER_REFLECT)
        mags.append(np.sqrt(a * a + b * b))
    f = np.stack(mags, axis=-1)
    return (f - f.mean(axis=(0, 1))) / (f.std(axis=(0, 1)) + 1e-6)


def _cost(ff: np.ndarray, shape, oy: np.ndarray, ox: np.ndarray, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    h, w = shape
    ty, tx = yy + oy, xx + ox
    bad = (ty < 0) | (ty >= h) | (tx < 0) | (tx >= w) | (oy * oy + ox * ox < MIN_SHIFT ** 2)
    idx = np.clip(ty, 0, h - 1) * w + np.clip(tx, 0, w - 1)
    d = ff - ff[idx.ravel()]
    c = np.einsum("ij,ij->i", d, d).reshape(h, w)
    return np.where(bad, np.inf, c)


def patchmatch(f: np.ndarray, iters: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest-neighbour offset field of ``f`` on itself, -> (oy, ox, cost), all (H, W)."""
    h, w = f.shape[:2]
    ff = np.ascontiguousarray(f.reshape(h * w, -1), dtype=np.float32)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    oy = rng.integers(0, h, (h, w)) - yy
    ox = rng.integers(0, w, (h, w)) - xx
    cost = _cost(ff, (h, w), oy, ox, yy, xx)

    def try_(cy, cx):
        nonlocal oy, ox, cost
        c = _cost(ff, (h, w), cy, cx, yy, xx)
        better = c < cost
        oy, ox, cost = np.where(better, cy, oy), np.where(better, cx, ox), np.where(better, c, cost)

    for _ in range(iters):
        for d in (1, 2, 4):
            for ax, sgn in ((0, 1), (0, -1), (1, 1), (1, -1)):
                try_(np.roll(oy, sgn * d, axis=ax), np.roll(ox, sgn * d, axis=ax))
        r = max(h, w) / 2
        while r >= 2:
            try_(oy + rng.integers(-int(r), int(r) + 1, (h, w)), ox + rng.integers(-int(r), int(r) + 1, (h, w)))
            r /= 2
    return oy, ox, cost


def dlf_error(oy: np.ndarray, ox: np.ndarray, k: int = 7) -> np.ndarray:
    """Residual (mean squared, px^2) of a least-squares affine fit of the offset field over k x k windows."""
    import cv2

    r = k // 2
    cy, cx = np.mgrid[-r: r + 1, -r: r + 1].astype(np.float32)
    n = float(k * k)
    sxx = float((cx ** 2).sum())
    box = np.ones((k, k), np.float32)
    err = np.zeros(oy.shape, np.float32)
    for d in (oy.astype(np.float32), ox.astype(np.float32)):
        s1 = cv2.filter2D(d, -1, box, borderType=cv2.BORDER_REFLECT)
        s2 = cv2.filter2D(d * d, -1, box, borderType=cv2.BORDER_REFLECT)
        sx = cv2.filter2D(d, -1, cx, borderType=cv2.BORDER_REFLECT)
        sy = cv2.filter2D(d, -1, cy, borderType=cv2.BORDER_REFLECT)
        err += s2 - s1 * s1 / n - sx * sx / sxx - sy * sy / sxx
    return np.maximum(err, 0) / n


def _verify(g: np.ndarray, comp: np.ndarray, oy: np.ndarray, ox: np.ndarray) -> tuple[np.ndarray, dict] | None:
    """Fit one affine map to a region's matches, warp, keep pixels that correlate (NCC >= 0.8)."""
    import cv2

    from .copymove import _local_ncc

    h, w = g.shape
    ys, xs = np.nonzero(comp)
    src = np.stack([xs, ys], 1).astype(np.float32)
    dst = np.stack([xs + ox[ys, xs], ys + oy[ys, xs]], 1).astype(np.float32)
    sel = np.random.default_rng(0).permutation(len(src))[:2000]
    M, inl = cv2.estimateAffine2D(src[sel], dst[sel], method=cv2.RANSAC, ransacReprojThreshold=2.0)
    if M is None or inl is None or inl.mean() < 0.5:
        return None
    # I(x) against I(M x): the copy sits at M x when x is in the region
    warped = cv2.warpAffine(g, M, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                            borderValue=-1000)
    ncc = _local_ncc(g, warped)
    ok = comp & (ncc >= NCC_MIN)
    if not ok.any():
        return None
    # fine detail: a copy carries the same high-frequency residual (noise, grain); two similar
    # genuine objects correlate in shape and shading but not in their residuals
    hp = g - cv2.GaussianBlur(g, (0, 0), 1.5)
    hpw = cv2.warpAffine(hp, M, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT)
    a, b = hp[ok].astype(np.float64), hpw[ok].astype(np.float64)
    a, b = a - a.mean(), b - b.mean()
    residual_ncc = float((a @ b) / (np.sqrt((a @ a) * (b @ b)) + 1e-9))
    yv, xv = np.nonzero(ok)
    pts = cv2.transform(np.stack([xv, yv], 1).astype(np.float32)[:, None], M)[:, 0]
    tgt = np.zeros_like(ok)
    ti = np.round(pts).astype(int)
    good = (ti[:, 0] >= 0) & (ti[:, 0] < w) & (ti[:, 1] >= 0) & (ti[:, 1] < h)
    tgt[ti[good, 1], ti[good, 0]] = True
    info = {"inlier_fraction": round(float(inl.mean()), 3), "median_ncc": round(float(np.median(ncc[comp])), 3),
            "residual_ncc": round(residual_ncc, 3),
            "scale": round(float(np.sqrt(abs(np.linalg.det(M[:, :2])))), 3),
            "rotation_deg": round(float(np.degrees(np.arctan2(M[1, 0], M[0, 0]))), 1)}
    return ok | tgt, info


def analyze(rgb: np.ndarray) -> Result:
    """Dense-field copy-move map and score (verified area in % of the image)."""
    import cv2

    from .copymove import _scale_gray

    check_size(rgb)
    g, s = _scale_gray(rgb, MAX_SIDE)
    h, w = g.shape
    f = features(g)
    oy, ox, cost = patchmatch(f)
    oy = cv2.medianBlur(oy.astype(np.float32), 5)
    ox = cv2.medianBlur(ox.astype(np.float32), 5)
    err = dlf_error(oy, ox)
    texture = cv2.blur(g, (9, 9))
    texture = cv2.blur(g * g, (9, 9)) - texture ** 2
    cand = (err < DLF_EPS) & (oy ** 2 + ox ** 2 >= MIN_SHIFT ** 2) & (texture > 16)
    cand = cv2.morphologyEx(cand.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(cand, connectivity=8)
    heat = np.zeros((h, w), bool)
    regions = []
    order: np.ndarray | list[int] = np.argsort(-stats[1:, cv2.CC_STAT_AREA]) + 1 if n > 1 else []
    for i in order[:6]:
        if stats[i, cv2.CC_STAT_AREA] < MIN_REGION * h * w:
            break
        v = _verify(g, lab == i, np.round(oy).astype(int), np.round(ox).astype(int))
        if v is None:
            continue
        m, info = v
        if m.sum() < MIN_REGION * h * w:
            continue
        heat |= m
        regions.append({**info, "area_percent": round(100 * float(m.mean()), 2)})
    if heat.any():
        heat = cv2.dilate(heat.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))) > 0
    score = 100.0 * float(heat.mean())
    return Result("dense-copy-move", heat=heat.astype(np.float32), score=score, reliability=np.ones((h, w), np.float32),
                  details={"regions": regions[:4], "analysis_scale": round(s, 4)})
