"""Local noise-level inconsistency from the finest diagonal wavelet band.

Design
------
The grey image's db4 HH1 sub-band is mostly noise; its robust standard deviation per block
(median |HH| / 0.6745, Donoho's estimator) estimates the local noise level in 32x32 pixel
blocks. Camera noise depends on brightness, so log sigma is regressed on the block's mean
intensity (quadratic, robust) and the residual becomes a robust z-score. Spliced,
inpainted (smoothed) or resampled regions shift the noise level both ways, so the map uses
|z| averaged over 3x3 blocks. Flat (std < 1) or clipped blocks are unreliable and left out.
Score: mean of the top 2% of the smoothed |z| over reliable blocks (robust scale floored at
0.15 in log units, outer ring of blocks left out, as for ELA).
"""
from __future__ import annotations

import numpy as np

from .common import (
    NotEnoughSignal,
    Result,
    block_reliability,
    check_size,
    drop_border,
    gray_f32,
    robust_z,
    smooth,
    tiled_features,
    top_mean,
)

BLOCK = 32


def _features(tile: np.ndarray) -> np.ndarray:
    import pywt

    g = gray_f32(tile)
    _, (_, _, hh) = pywt.dwt2(g, "db4", mode="periodization")
    hb = BLOCK // 2
    gh, gw = g.shape[0] // BLOCK, g.shape[1] // BLOCK
    hh = np.abs(hh[: gh * hb, : gw * hb]).reshape(gh, hb, gw, hb).swapaxes(1, 2).reshape(gh, gw, -1)
    sigma = np.median(hh, axis=2) / 0.6745
    gb = g[: gh * BLOCK, : gw * BLOCK].reshape(gh, BLOCK, gw, BLOCK).swapaxes(1, 2).reshape(gh, gw, -1)
    return np.stack([sigma, gb.mean(axis=2), block_reliability(g, BLOCK)], axis=-1)


def analyze(rgb: np.ndarray) -> Result:
    check_size(rgb)
    f = tiled_features(rgb, BLOCK, _features)
    rel = drop_border(f[..., 2])
    if rel.sum() < 16:
        raise NotEnoughSignal("fewer than 16 textured 32x32 blocks")
    ls = np.log(f[..., 0] + 0.05)
    mu = f[..., 1] / 255.0
    m = rel > 0
    coef = np.polyfit(mu[m], ls[m], 2)
    r = ls - np.polyval(coef, mu)
    keep = m & (np.abs(r) <= np.quantile(np.abs(r[m]), 0.8))
    if keep.sum() >= 8:
        coef = np.polyfit(mu[keep], ls[keep], 2)
        r = ls - np.polyval(coef, mu)
    z = np.abs(robust_z(r, rel, min_scale=0.15))
    zsm = smooth(z, 3, rel)
    heat = np.clip((zsm - 1.5) / 3.0, 0, 1) * (rel > 0)
    return Result("noise", heat=heat.astype(np.float32), score=top_mean(zsm, rel, 0.02), reliability=rel, extra_maps={"z": zsm},
                  details={"block": BLOCK, "median_sigma": float(np.median(f[..., 0][m]))})
