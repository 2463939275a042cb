"""Score normalisation against a background (distractor) set, as in SSCD (Pizzi et al. 2022).

A raw cosine similarity means different things for different queries: a dark, textureless or
text-heavy query is close to many images. SSCD's fix is to subtract, per query, the similarity
of its k-th nearest neighbour in a background set of images known not to be copies::

    s_norm(q, r) = s(q, r) - beta * mean(top-k similarities of q to the background)

with beta = 1 and small k (the DISC21 paper's setting). The
background comes from images added with ``sleuth index add --background``. When an index has
no background, the references stand in for it: ranks ``[SKIP, SKIP + k)`` of the query's
reference similarities (the top ranks are where copies would be, so they are skipped).
"""
from __future__ import annotations

import numpy as np

K = 3
BETA = 1.0
SKIP = 5


def background_offset(q: np.ndarray, background: np.ndarray, k: int = K) -> float:
    """mean of the top-k inner products of the query ``q`` (float vector) with ``background`` rows."""
    if background is None or len(background) == 0:
        return float("nan")
    sims = background @ q.astype(np.float32)
    k = min(k, len(sims))
    return float(np.mean(np.partition(sims, -k)[-k:]))


def offset_from_references(sorted_sims: np.ndarray, k: int = K, skip: int = SKIP) -> float:
    """Fallback offset from the query's own reference similarities sorted best first."""
    s = np.asarray(sorted_sims, float)
    if len(s) <= skip:
        return 0.0
    return float(np.mean(s[skip:skip + k]))


def normalise(sims: np.ndarray, offset: float, beta: float = BETA) -> np.ndarray:
    return np.asarray(sims, float) - beta * (0.0 if offset != offset else offset)
