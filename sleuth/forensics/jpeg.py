"""JPEG-only analyzers: JPEG ghosts and aligned double quantisation from the DCT coefficients.

Design
------
* Coefficients: no maintained pure-wheel DCT reader was needed. The decoded luminance (Pillow,
  before EXIF rotation, so the 8x8 grid is the file's grid) is transformed with an orthonormal
  8x8 block DCT, which equals the JPEG FDCT, and divided by the luminance quantisation table
  that Pillow exposes (natural order). Rounding gives the quantised coefficients up to +-1
  decoding noise, which is below one quantisation step for every table with Q >= 2.
* Double quantisation (Bianchi & Piva 2012, simplified): for each of the first 10 AC
  frequencies in zig-zag order, the histogram of a never-requantised image is estimated by
  *calibration* (the same DCT on the image cropped by 4 pixels, which breaks the grid). A
  first quantisation step Q1 multiplies that histogram by n(k) = #{k1 : round(k1 Q1/Q2) = k},
  a periodic comb. Q1 is the step that maximises the likelihood of the observed histogram
  under a 30%-tampered mixture; when it beats "no double compression" (Q1 = Q2) the
  frequency votes. Per coefficient, log p_single(k) - log p_double(k) = log Z - log n(k)
  (clipped to +-3; each comb tooth leaks min(0.25, 0.3/Q2) of its weight to its neighbours,
  the decoding noise) says "this block was compressed once" (spliced from elsewhere, or
  re-rendered); averaged per non-zero coefficient over 5x5 blocks it is the map (zero
  coefficients are left out: flat blocks look double-compressed either way).
  A JPEG compressed once has no voting frequency: score 0, nothing to localise, said plainly.
* JPEG ghosts (Farid 2009): re-save at qualities 50..95 below the last quality Q2 (estimated
  from the table); a region first compressed at a lower quality q1 shows a dip of the squared
  difference at q1. Differences are normalised per 16x16 block across qualities, and a block
  whose normalised curve departs from the image's median curve *in either direction* is
  suspect (robust z of the RMS distance between the curves): a dip where the host has none is Farid's ghost;
  a missing dip where the host has one is a paste that was never compressed on the host's
  grid (misaligned, or from a PNG), which is 63 splices in 64; the one-sided ghost missed
  those on development splices, the two-sided one finds them.
"""
from __future__ import annotations

import numpy as np

from .common import (
    NotEnoughSignal,
    Result,
    Skip,
    block_error,
    block_reliability,
    check_size,
    drop_border,
    estimate_quality,
    gray_f32,
    jpeg_roundtrip,
    luma_qtable,
    robust_z,
    smooth,
    tiled_features,
    top_mean,
)

ZIGZAG10 = [(0, 1), (1, 0), (2, 0), (1, 1), (0, 2), (0, 3), (1, 2), (2, 1), (3, 0), (4, 0)]
KMAX = 40


def _dct_matrix() -> np.ndarray:
    c = np.zeros((8, 8))
    for k in range(8):
        for n in range(8):
            c[k, n] = (np.sqrt(1 / 8) if k == 0 else np.sqrt(2 / 8)) * np.cos(np.pi * (2 * n + 1) * k / 16)
    return c


_C = _dct_matrix()


def block_dct(y: np.ndarray) -> np.ndarray:
    """(H, W) level-shifted luminance -> (H//8, W//8, 8, 8) DCT coefficients."""
    gh, gw = y.shape[0] // 8, y.shape[1] // 8
    b = y[: gh * 8, : gw * 8].reshape(gh, 8, gw, 8).swapaxes(1, 2)
    return np.einsum("ij,abjk,lk->abil", _C, b, _C, optimize=True)


def file_pixels(img) -> tuple[np.ndarray, int]:
    """RGB as stored in the file (no EXIF rotation) and the orientation to apply to maps."""
    o = int(img.orientation or 1)
    if o in (0, 1):
        return img.rgb, 1  # already the file's pixels: no second full-size copy
    return np.asarray(img.pil.convert("RGB")), o


def orient_map(m: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (as PIL.ImageOps.exif_transpose does) to a map."""
    ops = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1, :],
           5: lambda a: a.T, 6: lambda a: np.rot90(a, -1), 7: lambda a: a[::-1, ::-1].T,
           8: lambda a: np.rot90(a, 1)}
    f = ops.get(orientation)
    return np.ascontiguousarray(f(m)) if f else m


def _comb(q1: int, q2: float, kmax: int) -> np.ndarray:
    """n(k) for k in [-kmax, kmax]: how many first-quantisation bins land on each second bin."""
    lim = int(np.ceil((kmax + 1) * q2 / q1)) + 1
    k1 = np.arange(-lim, lim + 1)
    x = k1 * q1 / q2
    fl = np.floor(x)
    tie = np.abs(x - fl - 0.5) < 1e-9
    n = np.zeros(2 * kmax + 3)
    r = np.where(tie, fl, np.round(x)).astype(int)
    ok = np.abs(r) <= kmax + 1
    np.add.at(n, r[ok] + kmax + 1, np.where(tie[ok], 0.5, 1.0))
    ok2 = tie & (np.abs(fl + 1) <= kmax + 1)
    np.add.at(n, (fl[ok2] + 1).astype(int) + kmax + 1, 0.5)
    return n[1:-1]


def double_quantisation(img) -> Result:
    if not img.is_jpeg:
        raise Skip(f"skipped: not a JPEG ({img.format}); double quantisation needs JPEG coefficients")
    table = luma_qtable(img)
    if table is None:
        raise Skip("skipped: JPEG without a readable quantisation table")
    orientation = int(img.orientation or 1)
    lum = np.asarray(img.pil.convert("L"))  # uint8, the file's grid
    check_size(lum)
    gh, gw = lum.shape[0] // 8, lum.shape[1] // 8
    if gh * gw < 64:
        raise NotEnoughSignal("fewer than 64 JPEG blocks")
    # quantised coefficients of the 10 frequencies, computed in strips of 512 rows (memory bound:
    # 20 bytes per 8x8 block, 30 MB for 100 MP), plus the calibration (4-px shifted) histograms
    freqs = np.array(ZIGZAG10)
    qv = np.array([float(table[u, v]) for u, v in ZIGZAG10])
    kq = np.zeros((gh, gw, len(ZIGZAG10)), np.int16)
    hcal = np.zeros((len(ZIGZAG10), 2 * KMAX + 1))
    strip = 512
    for y0 in range(0, gh * 8, strip):
        y1 = min(gh * 8, y0 + strip)
        y = lum[y0:y1].astype(np.float64) - 128.0
        d = block_dct(y)[..., freqs[:, 0], freqs[:, 1]]
        kq[y0 // 8: y1 // 8, : d.shape[1]] = np.clip(np.round(d / qv), -32000, 32000)
        yc = lum[y0 + 4: min(lum.shape[0], y1 + 4), 4:].astype(np.float64) - 128.0
        if yc.shape[0] >= 8 and yc.shape[1] >= 8:
            dcal = block_dct(yc)[..., freqs[:, 0], freqs[:, 1]]
            kc = np.round(dcal / qv).astype(int).reshape(-1, len(ZIGZAG10))
            for i in range(len(ZIGZAG10)):
                c = kc[:, i]
                hcal[i] += np.bincount(c[np.abs(c) <= KMAX] + KMAX, minlength=2 * KMAX + 1)
    llr = np.zeros((gh, gw))
    cnt = np.zeros((gh, gw))
    voting, q1s = [], {}
    alpha = 0.3
    for i, (u, v) in enumerate(ZIGZAG10):
        q2 = float(table[u, v])
        k = kq[..., i].astype(int)
        inr = np.abs(k) <= KMAX
        h = np.bincount(k[inr] + KMAX, minlength=2 * KMAX + 1).astype(float)
        hc = hcal[i]
        p0 = (hc + 0.5) / (hc + 0.5).sum()
        best_q1, best_l = int(q2), float((h * np.log(p0)).sum())
        base_l = best_l
        for q1 in range(1, int(min(3 * q2 + 2, 64)) + 1):
            if q1 == int(q2):
                continue
            n = _comb(q1, q2, KMAX)
            pd = n * p0
            if pd.sum() <= 0:
                continue
            pd /= pd.sum()
            lik = float((h * np.log(alpha * p0 + (1 - alpha) * pd + 1e-12)).sum())
            if lik > best_l:
                best_q1, best_l = q1, lik
        gain = (best_l - base_l) / max(h.sum(), 1)
        if best_q1 == int(q2) or gain < 0.01:
            continue
        n = _comb(best_q1, q2, KMAX)
        # decoding noise (pixel rounding, clipping) moves a coefficient by about 0.3/Q2 bins:
        # leak that share of each comb tooth to its neighbours so "empty" bins are not impossible
        eps = min(0.25, 0.3 / q2)
        n = (1 - 2 * eps) * n + eps * (np.roll(n, 1) + np.roll(n, -1))
        z = (n * p0).sum()
        lr = np.clip(np.log(z) - np.log(np.maximum(n, 1e-3)), -3, 3)
        informative = inr & (k != 0)  # zeros are ambiguous (flat blocks look double-compressed either way)
        llr += np.where(informative, lr[np.clip(k, -KMAX, KMAX) + KMAX], 0.0)
        cnt += informative
        voting.append(f"{u},{v}")
        q1s[f"{u},{v}"] = [best_q1, int(q2)]
    last_q = estimate_quality(table)
    if not voting:
        return Result("jpeg-dq", heat=np.zeros((gh, gw), np.float32), score=0.0, reliability=np.ones((gh, gw), np.float32),
                      reliable=False, reason="no double quantisation found (compressed once, or first compression hidden)",
                      details={"double_compressed": False, "last_quality": last_q})
    import cv2

    # mean log-likelihood ratio per informative coefficient over 5x5 blocks
    num = cv2.blur(llr.astype(np.float32), (5, 5), borderType=cv2.BORDER_REFLECT)
    den = cv2.blur(cnt.astype(np.float32), (5, 5), borderType=cv2.BORDER_REFLECT)
    rel = drop_border((den >= 1.0).astype(np.float32))
    lsm = np.where(den > 0, num / np.maximum(den, 1e-3), 0.0).astype(np.float32)
    heat = orient_map(np.clip(lsm / 0.6, 0, 1) * rel, orientation)
    return Result("jpeg-dq", heat=heat, score=top_mean(lsm, rel, 0.02), reliability=orient_map(rel, orientation), extra_maps={"z": lsm},
                  details={"double_compressed": True, "voting_frequencies": len(voting), "q1_q2": q1s, "last_quality": last_q,
                           "single_compressed_fraction": float((lsm > 0).mean())})


GHOST_BLOCK = 16


def ghost(img) -> Result:
    if not img.is_jpeg:
        raise Skip(f"skipped: not a JPEG ({img.format}); JPEG ghosts need a JPEG history")
    q2 = estimate_quality(luma_qtable(img))
    if q2 is None:
        raise Skip("skipped: JPEG without a readable quantisation table")
    qs = [q for q in range(50, 100, 5) if q <= q2 - 3]
    if len(qs) < 3:
        raise Skip(f"skipped: last JPEG quality ~{q2} is too low to look for ghosts below it")
    rgb, orientation = file_pixels(img)
    check_size(rgb)

    def feats(tile):
        out = [block_error(tile, jpeg_roundtrip(tile, q), GHOST_BLOCK, square=True) for q in qs]
        out.append(block_reliability(gray_f32(tile), GHOST_BLOCK))
        return np.stack(out, axis=-1)

    f = tiled_features(rgb, GHOST_BLOCK, feats)
    rel = drop_border(f[..., -1])
    if rel.sum() < 16:
        raise NotEnoughSignal("fewer than 16 textured blocks")
    d = f[..., :-1]
    lo, hi = d.min(axis=2, keepdims=True), d.max(axis=2, keepdims=True)
    rel = rel * ((hi - lo)[..., 0] > 0.5)  # curves of near-empty blocks (smooth gradients) are noise
    dn = (d - lo) / (hi - lo + 1e-6)
    m = rel > 0
    med = np.median(dn[m], axis=0)
    dev = dn - med
    dist = np.sqrt((dev ** 2).mean(axis=2))  # distance of the block's curve from the image's curve
    z = robust_z(dist, rel, min_scale=0.02)
    which = np.abs(dev).argmax(axis=2)
    zsm = smooth(z.astype(np.float32), 3, rel)
    heat = np.clip((zsm - 1.0) / 3.0, 0, 1) * m
    top = which[m & (zsm > 2)]
    q1 = int(qs[np.bincount(top).argmax()]) if top.size else None
    return Result("jpeg-ghost", heat=orient_map(heat.astype(np.float32), orientation), score=top_mean(zsm, rel, 0.02),
                  reliability=orient_map(rel, orientation), extra_maps={"z": zsm},
                  details={"qualities": qs, "last_quality": q2, "ghost_quality": q1})
