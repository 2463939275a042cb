"""Near-duplicate clusters in a set of images, and replication audits against an index.

Design
------
* ``dedup``: every image gets SSCD + PDQ. Candidate pairs are those with SSCD cosine >= 0.3 or
  PDQ Hamming distance <= 90 (FAISS range search, so it scales to large sets without an n^2
  matrix). Each candidate pair gets the same calibrated copy score as ``sleuth search``
  (normalised similarity, SIFT + RANSAC inliers, PDQ similarity); pairs at or above the decision
  threshold are joined with union-find. The representative kept in each cluster is the image
  with the most pixels, then the most bytes (least recompressed), then the first path.
* ``replication``: each generated image is matched against a reference index; its closest
  reference and copy score are reported, and the replication ratio is the fraction of images
  whose best match is a copy at the decision threshold (with a Wilson 95% interval).
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.cluster.hierarchy import DisjointSet

from ..errors import SleuthError
from . import descriptors as D
from . import normalize as N
from .api import DECISION, calibrated_score
from .verify import extract, verify

if TYPE_CHECKING:
    from .index import CopyIndex

CAND_COS = 0.3
CAND_PDQ = 90


@dataclass
class DedupResult:
    clusters: list[list[str]] = field(default_factory=list)  # kept path first; only clusters of size >= 2
    errors: list[tuple[str, str]] = field(default_factory=list)
    pairs: list[dict[str, Any]] = field(default_factory=list)
    n_images: int = 0


def dedup(paths: Iterable[str], descriptor: str = "sscd", progress: bool = False, verify_pairs: bool = True) -> DedupResult:
    """Near-duplicate clusters in a set of images (see the module docstring for the method).

    Parameters
    ----------
    paths : iterable of str
        Image files.
    descriptor : str
        Global descriptor of the candidate search and the calibrated score (``sscd`` or ``sscd-distilled``).
    progress : bool
        Draw a progress bar on stderr while describing (more than one image).
    verify_pairs : bool
        Verify each candidate pair with SIFT + RANSAC (off: the score has no local evidence).

    Returns
    -------
    DedupResult
        ``clusters`` (size >= 2, the kept image first: most pixels, then most bytes), every scored
        candidate pair, the images that could not be read (``errors``: path, reason) and ``n_images``
        (the number read).
    """
    res = DedupResult()
    ok, X, C = _describe([str(p) for p in paths], descriptor, progress, res.errors)
    n = res.n_images = len(ok)
    if n < 2:
        return res
    pairs, offsets = _candidate_pairs(X, C)
    local: dict[tuple[int, bool], Any] = {}

    def lf(i: int, mirror: bool = False):
        if (i, mirror) not in local:
            local[(i, mirror)] = extract(ok[i][1], mirror=mirror)
        return local[(i, mirror)]

    joined = DisjointSet(range(n))
    for (i, j), s in sorted(pairs.items()):
        pdq_sim = 1.0 - int(np.unpackbits(np.bitwise_xor(C[i], C[j])).sum()) / 256.0
        inl = verify((lf(j), lf(j, True)), lf(i)).inliers if verify_pairs else 0
        score = calibrated_score(s - 0.5 * (offsets[i] + offsets[j]), inl, pdq_sim, descriptor)
        res.pairs.append({"a": ok[i][0], "b": ok[j][0], "similarity": round(s, 4), "inliers": inl,
                          "pdq_similarity": round(pdq_sim, 4), "score": round(score, 4)})
        if score >= DECISION:
            joined.merge(i, j)
    for members in map(list, joined.subsets()):
        if len(members) >= 2:
            members.sort(key=lambda i: (-ok[i][2], -ok[i][3], i))
            res.clusters.append([ok[i][0] for i in members])
    res.clusters.sort(key=lambda c: c[0])
    return res


def _describe(paths: list[str], descriptor: str, progress: bool, errors: list[tuple[str, str]],
              ) -> tuple[list[tuple[str, np.ndarray, int, int]], np.ndarray, np.ndarray]:
    """The readable images (path, rgb, pixels, bytes) with their global vectors and PDQ codes;
    unreadable ones go to ``errors``."""
    from ..imageio import load_image

    ok: list[tuple[str, np.ndarray, int, int]] = []
    vecs, codes = [], []
    bar = D._progress(len(paths), "describing") if progress and len(paths) > 1 else None
    try:
        for p in paths:
            try:
                img = load_image(p)
                vecs.append(D.get(descriptor).compute(img.rgb))
                codes.append(D.pdq_with_quality(img.rgb)[0])
                ok.append((p, img.rgb, img.width * img.height, len(img.data)))
            except SleuthError as exc:
                errors.append((p, exc.reason))
            finally:
                if bar:
                    bar[0].advance(bar[1])
    finally:
        if bar:
            bar[0].stop()
    if len(ok) < 2:
        return ok, np.zeros((0, 0), np.float32), np.zeros((0, 32), np.uint8)
    return ok, np.ascontiguousarray(np.stack(vecs), np.float32), np.ascontiguousarray(np.stack(codes))


def _candidate_pairs(X: np.ndarray, C: np.ndarray) -> tuple[dict[tuple[int, int], float], list[float]]:
    """Candidate pairs (SSCD cosine >= CAND_COS or PDQ distance <= CAND_PDQ, by FAISS range search)
    with their cosine, and each image's normalisation offset from its own similarity ranks (dedup
    has no background set)."""
    import faiss

    n = len(X)
    fi = faiss.IndexFlatIP(X.shape[1])
    fi.add(X)
    lims, dist, lab = fi.range_search(X, CAND_COS)
    pairs: dict[tuple[int, int], float] = {}
    for i in range(n):
        for s, j in zip(dist[lims[i]:lims[i + 1]], lab[lims[i]:lims[i + 1]], strict=True):
            if j != i:
                pairs[(min(i, j), max(i, j))] = float(s)
    bi = faiss.IndexBinaryFlat(256)
    bi.add(C)
    blims, _hamming, blab = bi.range_search(C, CAND_PDQ + 1)
    for i in range(n):
        for j in blab[blims[i]:blims[i + 1]]:
            if j != i:
                pairs.setdefault((min(i, j), max(i, j)), float(X[i] @ X[j]))
    sims_sorted, _ = fi.search(X, min(n, N.SKIP + N.K + 1))
    return pairs, [N.offset_from_references(row[1:]) for row in sims_sorted]


@dataclass
class ReplicationResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    n_ok: int = 0
    n_copies: int = 0
    ratio: float = float("nan")
    ci95: tuple[float, float] = (float("nan"), float("nan"))
    decision: float = DECISION


def replication(paths: Iterable[str], index: str | os.PathLike[str] | CopyIndex, progress: bool = False) -> ReplicationResult:
    """Closest reference and copy score per generated image, and the set's replication ratio.

    Parameters
    ----------
    paths : iterable of str
        The generated images.
    index : str, os.PathLike or CopyIndex
        The reference index.
    progress : bool
        Draw a progress bar on stderr (more than one image).

    Returns
    -------
    ReplicationResult
        One row per image (closest reference, score, ``is_copy``, regions; or ``error`` for an
        unreadable image), ``ratio`` = copies / images read, its Wilson 95% interval ``ci95`` and the
        ``decision`` threshold.

    Raises
    ------
    IndexError_
        When the index holds no reference images.
    """
    from .api import matcher_for

    m = matcher_for(index)
    res = ReplicationResult()
    plist = [str(p) for p in paths]
    bar = D._progress(len(plist), "matching") if progress and len(plist) > 1 else None
    try:
        for p in plist:
            try:
                best = m.match(p, top_k=1)
                b = best[0] if best else None
                row: dict[str, Any] = {"path": p, "error": None, "reference_id": b.id if b else None,
                       "reference_path": b.path if b else None, "score": round(b.score, 6) if b else 0.0,
                       "is_copy": bool(b and b.is_copy), "regions": b.regions if b else None}
                res.n_ok += 1
                res.n_copies += int(row["is_copy"])
            except SleuthError as exc:
                if "no reference images" in exc.reason:
                    raise
                row = {"path": p, "error": str(exc), "reference_id": None, "reference_path": None,
                       "score": None, "is_copy": None, "regions": None}
            res.rows.append(row)
            if bar:
                bar[0].advance(bar[1])
    finally:
        if bar:
            bar[0].stop()
    if res.n_ok:
        res.ratio = res.n_copies / res.n_ok
        res.ci95 = wilson_interval(res.n_copies, res.n_ok)
    return res


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion k/n."""
    if n <= 0:
        return float("nan"), float("nan")
    p = k / n
    den = 1 + z * z / n
    c = (p + z * z / (2 * n)) / den
    h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return float(max(0.0, c - h)), float(min(1.0, c + h))
