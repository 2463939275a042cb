"""Image-scaling attacks (Xiao et al. 2019, Quiring et al. 2020) against OpenCV downscaling.

Design
------
OpenCV's nearest, bilinear and bicubic ``cv2.resize`` (no antialiasing) are separable linear
maps: ``down(A) = L @ A @ R`` per channel, with L (m' x m) and R (n x n') read off exactly by
resizing identity matrices with the same interpolation. The attack looks for the image A
closest to the source S whose downscale is the target T, in two closed-form minimum-norm
steps (Quiring's column/row decomposition, with the least-squares solution instead of a QP):

1. vertical: X = S R + L^+ (T - L S R), the smallest change of the horizontally scaled
   source whose vertical downscale is T;
2. horizontal: A = S + (X - S R) R^+, the smallest change of S with A R = X.

Clipping to [0, 255] breaks the equality slightly; three rounds of the same projection repair
most of it (bilinear, whose two taps leave least room before clipping, keeps the largest
error). For nearest, bilinear and bicubic the change touches only the pixels the scaler reads,
which is what makes the attack invisible at full size. ``area`` (``INTER_AREA``) reads every
pixel: the same minimum-norm solution then adds one offset per source block, a visible change
(the detector's blockiness check looks for it). Pillow's antialiased resize is not attackable
this way.
"""
from __future__ import annotations

import numpy as np

INTERP = {"nearest": 0, "bilinear": 1, "bicubic": 2, "area": 3}  # cv2.INTER_NEAREST, INTER_LINEAR, INTER_CUBIC, INTER_AREA


def scaling_matrices(src_hw: tuple[int, int], dst_hw: tuple[int, int], method: str) -> tuple[np.ndarray, np.ndarray]:
    """(L, R) with cv2.resize(A, (n', m'), method) == L @ A @ R for one channel."""
    import cv2

    m, n = src_hw
    mp, np_ = dst_hw
    flag = INTERP[method]
    L = cv2.resize(np.eye(m, dtype=np.float32), (m, mp), interpolation=flag).astype(np.float64)
    R = cv2.resize(np.eye(n, dtype=np.float32), (np_, n), interpolation=flag).astype(np.float64)
    return L, R


def downscale(a: np.ndarray, dst_hw: tuple[int, int], method: str) -> np.ndarray:
    import cv2

    return cv2.resize(a, (dst_hw[1], dst_hw[0]), interpolation=INTERP[method])


def scaling_attack(source: np.ndarray, target: np.ndarray, method: str = "bilinear", rounds: int = 3) -> np.ndarray:
    """Return an image that looks like ``source`` but becomes ``target`` when downscaled to
    ``target``'s size with ``cv2.resize(..., interpolation=method)``. uint8 HxWx3 in and out."""
    if method not in INTERP:
        raise ValueError(f"unknown method {method!r}; one of {', '.join(INTERP)}")
    src = source.astype(np.float64)
    tgt = target.astype(np.float64)
    if src.ndim == 2:
        src, tgt = src[..., None], tgt[..., None]
    m, n = src.shape[:2]
    mp, np_ = tgt.shape[:2]
    if mp > m or np_ > n:
        raise ValueError("the target must be smaller than the source")
    L, R = scaling_matrices((m, n), (mp, np_), method)
    Lp = np.linalg.pinv(L)  # m x m'
    Rp = np.linalg.pinv(R)  # n' x n
    a = src.copy()
    for _ in range(max(1, rounds)):
        for c in range(src.shape[2]):
            ar = a[..., c] @ R  # m x n'
            x = ar + Lp @ (tgt[..., c] - L @ ar)
            a[..., c] = a[..., c] + (x - ar) @ Rp
        a = np.clip(a, 0, 255)
    out = np.round(a).astype(np.uint8)
    return out[..., 0] if source.ndim == 2 else out
