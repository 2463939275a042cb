"""RINE-style probe over the whole CLIP tower, fitted as a class-balanced linear ridge model.

Design
------
* Input rows are 224 px crops; features are, for each selected block, the layer-normalised CLS
  token and mean patch token (views + tower). Blocks are grouped (``GROUPS``); each group is
  standardised (per-dimension mean/scale of the training rows) and contributes one linear kernel
  ``Z Z^T / d``, so a block set is a sum of group kernels (a learned per-group weighting is a
  weighted sum).
* Fitting in the dual (``n`` rows << ``d`` features): ``(K + 1 + lam * S^-1) alpha = y`` with
  ``y`` in {-1, +1} and ``S`` class-balancing weights; the ``+ 1`` is an (almost) unregularised
  bias. One Cholesky solve per fold and regularisation value, which is what makes
  leave-one-family-out model selection affordable on a CPU; the primal weights
  ``w = Z^T alpha / d`` (folded back through the standardisation) are what the head ships.
* Per-image score: mean of the crop logits; crop disagreement: their standard deviation.
"""
from __future__ import annotations

import numpy as np

#: block groups of the 12-block ViT-B/16 tower: early, middle, late
GROUPS = {"early": (0, 1, 2, 3), "mid": (4, 5, 6, 7), "late": (8, 9, 10, 11)}


def group_rows(blocks: np.ndarray, group) -> np.ndarray:
    """(n, 12, 2, 768) block features -> (n, len(group) * 1536) float32 for the given blocks."""
    b = np.asarray(blocks)[:, list(group)]
    return b.reshape(len(b), -1).astype(np.float32)


def standardiser(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension mean and scale (std + 1e-3) of training rows."""
    mu = Z.mean(0, dtype=np.float64).astype(np.float32)
    sd = (Z.std(0, dtype=np.float64) + 1e-3).astype(np.float32)
    return mu, sd


def kernels(train: np.ndarray, others: list[np.ndarray], groups=GROUPS) -> tuple[dict, dict, dict]:
    """Group kernels of the training rows and cross-kernels of other row sets.

    Parameters
    ----------
    train : ndarray
        (n, 12, 2, 768) block features of the training rows.
    others : list of ndarray
        Further row sets (m_j, 12, 2, 768) to score.
    groups : dict
        Group name -> block indices.

    Returns
    -------
    (K, cross, stats)
        ``K[g]`` (n, n), ``cross[g]`` list of (m_j, n), ``stats[g]`` (mean, scale).
    """
    K: dict = {}
    cross: dict = {}
    stats: dict = {}
    for g, blk in groups.items():
        Z = group_rows(train, blk)
        mu, sd = standardiser(Z)
        Z -= mu
        Z /= sd
        d = Z.shape[1]
        K[g] = (Z @ Z.T) / d
        cross[g] = []
        for other in others:
            Zo = (group_rows(other, blk) - mu) / sd
            cross[g].append((Zo @ Z.T) / d)
        stats[g] = (mu, sd)
        del Z
    return K, cross, stats


def balance(y: np.ndarray) -> np.ndarray:
    """Class-balancing weights with mean 1."""
    y = np.asarray(y)
    w = np.where(y == 1, 0.5 / max(1, (y == 1).sum()), 0.5 / max(1, (y == 0).sum()))
    return w * len(y)


def solve(K: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """Dual coefficients of the balanced ridge classifier on kernel ``K`` (bias via ``+1``)."""
    from scipy.linalg import cho_factor, cho_solve

    s = balance(y)
    A = K.astype(np.float64) + 1.0
    A[np.diag_indices_from(A)] += lam / s
    t = np.where(np.asarray(y) == 1, 1.0, -1.0)
    return cho_solve(cho_factor(A, lower=True, check_finite=False), t, check_finite=False)


def primal(train: np.ndarray, alpha: np.ndarray, stats: dict, groups) -> tuple[np.ndarray, float]:
    """Primal weights over the (12, 2, 768) block features (zeros outside ``groups``) and bias.

    Parameters
    ----------
    train : ndarray
        (n, 12, 2, 768) training rows the dual ``alpha`` was fitted on.
    alpha : ndarray
        (n,) dual coefficients.
    stats : dict
        Group name -> (mean, scale) from :func:`kernels`.
    groups : dict
        The groups (name -> blocks) the kernel summed, with their weights as ``(blocks, weight)``.

    Returns
    -------
    (w, b)
        ``w`` (12, 2, 768) float64, bias ``b``: logit = sum(w * x) + b.
    """
    w = np.zeros((12, 2, 768))
    b = float(alpha.sum())
    for g, (blk, weight) in groups.items():
        mu, sd = stats[g]
        Z = (group_rows(train, blk) - mu) / sd
        d = Z.shape[1]
        wz = weight * (Z.T @ alpha) / d  # weights on standardised features
        wr = wz / sd
        b -= float(wr @ mu)
        w[list(blk)] += wr.reshape(len(blk), 2, 768)
    return w, b


def crop_logits(w: np.ndarray, b: float, blocks: np.ndarray) -> np.ndarray:
    """Logits of crops: (..., 12, 2, 768) block features -> (...)."""
    x = np.asarray(blocks, np.float32)
    return np.tensordot(x, w.astype(np.float32), axes=([-3, -2, -1], [0, 1, 2])).astype(np.float64) + b
