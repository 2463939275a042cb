"""Error level analysis, normalised so that a pristine JPEG gives a flat map.

Design
------
Re-save the image as JPEG at qualities 75, 85 and 95 and take the mean absolute error per
16x16 block (aligned to the JPEG MCU grid). Raw ELA mostly shows texture: the error of a
block grows with its local contrast, which is why Forensically/FotoForensics maps light up
on every edge. Here the log error is regressed on the log of the block's grey-level standard
deviation (robust linear fit over reliable blocks, per quality), and the residual is turned
into a robust z-score. A region with a different compression history (spliced from another
JPEG, or never compressed) keeps a residual of the same sign over many neighbouring blocks,
so the z-map is averaged over 3x3 blocks and the score is the mean of its top 2%.
The robust scale has a floor of 0.25 (log units): at the host's own quality most blocks re-save
with almost no error and the MAD collapses, which made untouched photos re-saved at their own
quality the top false alarms.
The outer ring of blocks is left out (image borders were the other pristine outliers).
The ``raw`` mode (Forensically-style |I - JPEG75(I)|) is kept as the benchmark baseline;
the measured comparison is in docs/benchmarks.md (section forensics).
"""
from __future__ import annotations

import numpy as np

from .common import (
    Result,
    block_error,
    block_reliability,
    block_std,
    check_size,
    drop_border,
    gray_f32,
    jpeg_roundtrip,
    robust_z,
    smooth,
    tiled_features,
    top_mean,
)

QUALITIES = (75, 85, 95)
BLOCK = 16


def _features(tile: np.ndarray) -> np.ndarray:
    g = gray_f32(tile)
    feats = [block_error(tile, jpeg_roundtrip(tile, q), BLOCK) for q in QUALITIES]
    feats.append(block_std(g, BLOCK))
    feats.append(block_reliability(g, BLOCK))
    return np.stack(feats, axis=-1)


def analyze(rgb: np.ndarray, raw: bool = False) -> Result:
    check_size(rgb)
    f = tiled_features(rgb, BLOCK, _features)
    rel = drop_border(f[..., -1])
    if rel.sum() < 16:
        from .common import NotEnoughSignal

        raise NotEnoughSignal("fewer than 16 textured blocks")
    if raw:  # Forensically-style baseline: plain error at quality 75, scaled to [0,1]
        e = f[..., 0]
        heat = np.clip(e / (np.percentile(e, 99.5) + 1e-6), 0, 1)
        return Result("ela-raw", heat=heat, score=float(np.percentile(e, 99)), reliability=np.ones_like(e))
    x = np.log(f[..., 3] + 1.0)
    zs = []
    m = rel > 0
    for i in range(len(QUALITIES)):
        y = np.log(f[..., i] + 0.05)
        a, b = _robust_line(x[m], y[m])
        zs.append(robust_z(y - (a * x + b), rel, min_scale=0.25))
    z = np.max(np.stack(zs), axis=0)
    zsm = smooth(z, 3, rel)
    heat = np.clip((zsm - 1.0) / 3.0, 0, 1) * (rel > 0)
    score = top_mean(zsm, rel, 0.02)
    return Result("ela", heat=heat.astype(np.float32), score=score, reliability=rel, extra_maps={"z": zsm},
                  details={"qualities": list(QUALITIES), "block": BLOCK})


def _robust_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least squares, then refit on the 80% smallest residuals."""
    if x.size < 3 or np.ptp(x) < 1e-6:
        return 0.0, float(np.median(y)) if y.size else 0.0
    a, b = np.polyfit(x, y, 1)
    r = np.abs(y - (a * x + b))
    keep = r <= np.quantile(r, 0.8)
    if keep.sum() >= 3:
        a, b = np.polyfit(x[keep], y[keep], 1)
    return float(a), float(b)
