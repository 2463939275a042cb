"""Matching: candidates from global descriptors, score normalisation, local verification,
calibrated copy score. The Python API of copy detection.

Design
------
1. **Candidates**: the query's SSCD vector searched in the index (top ``candidates``, 20); PDQ
   with the 8 dihedral variants of the query (flips and 90-degree rotations; candidates within
   Hamming distance ``PDQ_RADIUS``); and 9 overlapping crops (60% of each side) described with the
   distilled SSCD (trained to reproduce SSCD's space, and several times cheaper), top 3 per crop.
   The crops find references embedded in a larger query (screenshots, overlays), which a global
   descriptor of the whole query misses.
2. **Normalisation**: SSCD similarity minus the query's mean top-3 similarity to the background
   set (:mod:`sleuth.copydetect.normalize`).
3. **Verification**: the best ``verify_top`` (10) candidates by max(global, crop) similarity are
   checked with SIFT + RANSAC (:mod:`sleuth.copydetect.verify`): inliers, matched regions,
   asymmetric coverage.
4. **Calibration**: the copy score in [0, 1], comparable across queries, is a noisy-OR of a global
   logistic model (normalised SSCD, PDQ similarity) and a local one (log(1+inliers)); a single
   linear model under-weighted verification (an overlay with many inliers but a low global
   similarity stayed below the decision). ``is_copy`` is ``score >= DECISION``.
   The weights (:mod:`sleuth.copydetect.calibration`, stored in ``sleuth/data/copydetect/``) were
   fitted by ``bench/copydetect.py --calibrate`` on the *calibration split*
   (camera JPEGs, Kodak, Urban100 and CNNDetection real thumbnails, with the bench's transforms),
   which shares no image with the benchmark split (BSDS500) that docs/benchmarks.md reports on.

API::

    from sleuth.copydetect import CopyIndex, match
    idx = CopyIndex.create_or_open("refs.idx"); idx.add(["a.jpg", "b.jpg"])
    for m in match("query.jpg", "refs.idx", top_k=3):
        print(m.path, m.score, m.is_copy, m.verification.relation)
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import IndexError_, SleuthError
from . import descriptors as D
from . import normalize as N
from .calibration import CALIBRATION, DECISION, DECISION_PRECISION
from .index import CopyIndex
from .verify import LocalFeatures, Verification, extract, verify

PDQ_RADIUS = 90  # of 256 bits; PDQ's own guidance: <= 31 is a match, 90 is a generous candidate net


@dataclass
class Match:
    id: int
    path: str
    score: float  # calibrated copy probability in [0, 1]
    is_copy: bool
    similarity: float  # raw cosine (or Hamming similarity) of the primary descriptor
    normalized: float  # similarity minus the background offset
    pdq_similarity: float | None = None
    verification: Verification = field(default_factory=Verification)
    labels: dict[str, Any] = field(default_factory=dict)

    @property
    def regions(self) -> dict[str, Any]:
        v = self.verification
        return {"query": v.query_region, "reference": v.reference_region,
                "reference_in_query": round(v.reference_in_query, 4), "query_in_reference": round(v.query_in_reference, 4),
                "relation": v.relation}

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "path": self.path, "score": round(self.score, 6), "is_copy": self.is_copy,
                "similarity": round(self.similarity, 6), "normalized": round(self.normalized, 6),
                "pdq_similarity": None if self.pdq_similarity is None else round(self.pdq_similarity, 4),
                "inliers": self.verification.inliers, "regions": self.regions, "labels": self.labels}


def calibrated_score(normalized: float, inliers: int, pdq_sim: float | None, primary: str = "sscd") -> float:
    """Copy probability: noisy-OR of a global model (normalised similarity, PDQ similarity) and a
    local model (RANSAC inliers), each a logistic fitted on the calibration split.

    Parameters
    ----------
    normalized : float
        Primary-descriptor similarity minus the query's background offset.
    inliers : int
        RANSAC inliers of the local verification (0 when not verified).
    pdq_sim : float or None
        PDQ similarity (1 - Hamming distance / 256) of the best dihedral variant; None (read as 0.5)
        when the index holds no PDQ hash for the reference.
    primary : str
        Primary descriptor whose stored weights are used (those of ``sscd`` when it has none).

    Returns
    -------
    float
        Calibrated copy probability in [0, 1]; ``is_copy`` is ``score >= DECISION``.
    """
    w = CALIBRATION.get(primary, CALIBRATION["sscd"])
    g, loc = w["global"], w["local"]
    p = 0.5 if pdq_sim is None else pdq_sim
    p_g = _sigmoid(g["bias"] + g["normalized"] * normalized + g["pdq"] * p)
    p_l = _sigmoid(loc["bias"] + loc["log_inliers"] * math.log1p(max(0, inliers)))
    return float(1.0 - (1.0 - p_g) * (1.0 - p_l))


def _sigmoid(z: float) -> float:
    from scipy.special import expit

    return float(expit(z))


CROP_MODEL = "sscd-distilled"  # trained to reproduce SSCD's embedding space, 4-5x cheaper
CROP_SIDE = 0.6


class QueryFeatures:
    """Everything computed once per query: global descriptors, PDQ dihedral codes, local features,
    and (lazily) descriptors of 9 overlapping crops used to find references embedded in the query."""

    def __init__(self, rgb: np.ndarray, descriptors: list[str]):
        self.rgb = rgb
        self.global_: dict[str, np.ndarray] = {}
        for d in descriptors:
            if d == "pdq":
                self.global_[d] = D.pdq_dihedral(rgb)  # 8 rows, row 0 = original
            else:
                self.global_[d] = np.atleast_2d(D.get(d).compute(rgb))
        self._local: LocalFeatures | None = None
        self._mirror: LocalFeatures | None = None
        self._crops: np.ndarray | None = None

    def _mirrored(self):
        if self._mirror is None:
            self._mirror = extract(self.rgb, mirror=True)
        return self._mirror

    @property
    def local(self):
        if self._local is None:
            self._local = extract(self.rgb)
        return (self._local, self._mirrored)

    def crop_vectors(self) -> np.ndarray:
        if self._crops is None:
            h, w = self.rgb.shape[:2]
            ch, cw = max(16, int(h * CROP_SIDE)), max(16, int(w * CROP_SIDE))
            fn = D.get(CROP_MODEL).compute
            self._crops = np.stack([fn(self.rgb[y:y + ch, x:x + cw]) for y in (0, (h - ch) // 2, h - ch)
                                    for x in (0, (w - cw) // 2, w - cw)]).astype(np.float32)
        return self._crops


class Matcher:
    """Match queries against one opened :class:`CopyIndex`."""

    def __init__(self, index: CopyIndex, *, candidates: int = 20, verify_top: int = 10, verify: bool = True,
                 normalise: bool = True, crops: bool = True):
        self.index = index
        self.crops = crops
        self.candidates = candidates
        self.verify_top = verify_top
        self.do_verify = verify
        self.do_normalise = normalise
        descs = index.descriptors
        floats = [d for d in descs if D.get(d).kind == "float"]
        self.primary = floats[0] if floats else descs[0]

    def features(self, rgb: np.ndarray) -> QueryFeatures:
        return QueryFeatures(rgb, self.index.descriptors)

    def match(self, query: Any, top_k: int = 5) -> list[Match]:
        """Best ``top_k`` references for a query (path, bytes, LoadedImage, RGB array or QueryFeatures).

        Parameters
        ----------
        query : str, os.PathLike, bytes, LoadedImage, ndarray or QueryFeatures
            The query image (an RGB array is HxWx3 uint8); QueryFeatures reuses descriptors already computed.
        top_k : int
            Number of references returned.

        Returns
        -------
        list of Match
            At most ``top_k`` references, highest calibrated copy score first.

        Raises
        ------
        IndexError_
            When the index holds no reference images.
        ImageLoadError
            When ``query`` cannot be read as an image.
        """
        qf = query if isinstance(query, QueryFeatures) else self.features(_rgb(query))
        n_ref = self.index.count("reference")
        if n_ref == 0:
            raise IndexError_("index holds no reference images (add some with 'sleuth index add')", str(self.index.root))
        cand, offset = self._primary_candidates(qf, n_ref, top_k)
        pdq_sims = self._pdq_candidates(qf, n_ref, cand)
        prio = self._crop_candidates(qf, n_ref, cand)
        self._complete(qf, cand, pdq_sims)
        for i, c in cand.items():  # verification order: max of global and crop similarity
            prio[i] = max(prio.get(i, -9.0), c["sim"] if c["sim"] == c["sim"] else -9.0)
        order = sorted(cand, key=lambda i: -prio[i])
        ver: dict[int, Verification] = {}
        if self.do_verify:
            for i in order[: self.verify_top]:
                ref = self.index.local_features(i)
                if ref is not None:
                    ver[i] = verify(qf.local, ref)
        info = self.index.info(order)
        out = [self._scored(i, cand[i]["sim"], offset, ver.get(i, Verification()), pdq_sims.get(i), info.get(i, {}))
               for i in order]
        out.sort(key=lambda m: -m.score)
        return out[:top_k]

    def _primary_candidates(self, qf: QueryFeatures, n_ref: int, top_k: int) -> tuple[dict[int, dict[str, float]], float]:
        """Nearest references by the primary descriptor, and the query's normalisation offset."""
        idx, prim = self.index, D.get(self.primary)
        fi = idx.faiss_index(self.primary)
        k = int(min(n_ref, max(self.candidates, top_k, N.SKIP + N.K)))
        qv = qf.global_[self.primary]
        if prim.kind == "float":
            sims, ids = fi.search(np.ascontiguousarray(qv[:1], np.float32), k)
            sims, ids = sims[0], ids[0]
        else:
            dist, ids = fi.search(np.ascontiguousarray(qv[:1]), k)
            sims, ids = 1.0 - dist[0] / prim.dim, ids[0]
        keep = ids >= 0
        sims, ids = sims[keep], ids[keep]
        if "IDMap" not in type(fi).__name__ and prim.kind == "float":
            # approximate structure (IVF-PQ): re-score the candidates exactly from the stored vectors
            stored = self._stored(self.primary, [int(i) for i in ids])
            sims = np.array([float(stored[int(i)] @ qv[0]) if int(i) in stored else float(s) for s, i in zip(sims, ids, strict=True)])
        offset = 0.0
        if self.do_normalise:
            bg = idx.background().get(self.primary)
            if bg is not None and len(bg) and prim.kind == "float":
                offset = N.background_offset(qv[0], bg)
            else:
                offset = N.offset_from_references(np.sort(sims)[::-1])
        return {int(i): {"sim": float(s)} for s, i in zip(sims, ids, strict=True)}, offset

    def _pdq_candidates(self, qf: QueryFeatures, n_ref: int, cand: dict[int, dict[str, float]]) -> dict[int, float]:
        """PDQ similarity (best of the dihedral variants) of the nearest PDQ neighbours; those within
        the PDQ radius join ``cand`` (with their primary similarity still unknown: NaN)."""
        pdq_sims: dict[int, float] = {}
        if "pdq" not in self.index.descriptors:
            return pdq_sims
        dist, pids = self.index.faiss_index("pdq").search(np.ascontiguousarray(qf.global_["pdq"]), int(min(n_ref, 10)))
        for drow, irow in zip(dist, pids, strict=True):
            for dd, ii in zip(drow, irow, strict=True):
                if ii >= 0 and 1.0 - dd / 256.0 > pdq_sims.get(int(ii), -1):
                    pdq_sims[int(ii)] = float(1.0 - dd / 256.0)
        for ii, sim in pdq_sims.items():
            if sim >= 1.0 - PDQ_RADIUS / 256.0 and ii not in cand:
                cand[ii] = {"sim": float("nan")}
        return pdq_sims

    def _crop_candidates(self, qf: QueryFeatures, n_ref: int, cand: dict[int, dict[str, float]]) -> dict[int, float]:
        """References embedded in the query (screenshots, overlays), found by crop descriptors; returns
        the verification priority of every candidate so far (its best global or crop similarity)."""
        prio: dict[int, float] = {i: c["sim"] for i, c in cand.items() if c["sim"] == c["sim"]}
        if not (self.crops and self.do_verify and self.primary in ("sscd", "sscd-distilled")):
            return prio
        try:
            cv = qf.crop_vectors()
        except SleuthError:  # the crop model is not installed: global candidates only
            return prio
        cs, cids = self.index.faiss_index(self.primary).search(cv, int(min(n_ref, 3)))
        for srow, irow in zip(cs, cids, strict=True):
            for sv, ii in zip(srow, irow, strict=True):
                if ii >= 0:
                    prio[int(ii)] = max(prio.get(int(ii), -9.0), float(sv))
                    cand.setdefault(int(ii), {"sim": float("nan")})
        return prio

    def _complete(self, qf: QueryFeatures, cand: dict[int, dict[str, float]], pdq_sims: dict[int, float]) -> None:
        """Primary similarity of PDQ- and crop-only candidates, and PDQ similarity of the others,
        from the stored vectors."""
        prim, qv = D.get(self.primary), qf.global_[self.primary]
        missing = [i for i, c in cand.items() if c["sim"] != c["sim"]]
        if missing:
            for i, v in self._stored(self.primary, missing).items():
                cand[i]["sim"] = float(v @ qv[0]) if prim.kind == "float" else float(D.hamming_similarity(qv[0], v, prim.dim)[0, 0])
        if "pdq" in self.index.descriptors:
            need = [i for i in cand if i not in pdq_sims]
            if need:
                for i, v in self._stored("pdq", need).items():
                    pdq_sims[i] = float(D.hamming_similarity(qf.global_["pdq"], v, 256).max())

    def _scored(self, i: int, sim: float, offset: float, vres: Verification, pdq: float | None,
                inf: dict[str, Any]) -> Match:
        """One candidate's calibrated match."""
        s = 0.0 if sim != sim else sim
        nrm = float(N.normalise(np.array([s]), offset)[0]) if self.do_normalise else s
        score = calibrated_score(nrm, vres.inliers, pdq, self.primary)
        return Match(id=i, path=inf.get("path", ""), score=score, is_copy=score >= DECISION, similarity=s,
                     normalized=nrm, pdq_similarity=pdq, verification=vres, labels=inf.get("labels", {}))

    def _stored(self, descriptor: str, ids: list[int]) -> dict[int, np.ndarray]:
        d = D.get(descriptor)
        q = ",".join("?" * len(ids))
        rows = self.index.db.execute(f"SELECT id, data FROM vectors WHERE descriptor=? AND id IN ({q})", [descriptor, *ids]).fetchall()
        dtype = np.uint8 if d.kind == "binary" else np.float32
        return {int(r[0]): np.frombuffer(r[1], dtype) for r in rows}


def _rgb(query: Any) -> np.ndarray:
    from ..imageio import LoadedImage, load_image

    if isinstance(query, LoadedImage):
        return query.rgb
    if isinstance(query, np.ndarray):
        return query
    return load_image(query).rgb


_OPEN: dict[str, Matcher] = {}


def matcher_for(index: str | os.PathLike | CopyIndex, **kw: Any) -> Matcher:
    """A cached Matcher per index path (the scan analyzer reuses it across images).

    Parameters
    ----------
    index : str, os.PathLike or CopyIndex
        Index folder (opened once per path and keyword set), or an opened index (a new, uncached Matcher).
    **kw
        :class:`Matcher` keywords (``candidates``, ``verify_top``, ``verify``, ``normalise``, ``crops``).

    Returns
    -------
    Matcher
        The matcher for that index and those keywords.
    """
    if isinstance(index, CopyIndex):
        return Matcher(index, **kw)
    key = str(os.path.abspath(index)) + repr(sorted(kw.items()))
    if key not in _OPEN:
        _OPEN[key] = Matcher(CopyIndex.open(index), **kw)
    return _OPEN[key]


def match(query: Any, index: str | os.PathLike | CopyIndex, top_k: int = 5, **kw: Any) -> list[Match]:
    """Match one query (path, bytes, LoadedImage or RGB array) against an index.

    Parameters
    ----------
    query : str, os.PathLike, bytes, LoadedImage or ndarray
        The query image.
    index : str, os.PathLike or CopyIndex
        The reference index (see :func:`matcher_for`).
    top_k : int
        Number of references returned.
    **kw
        :class:`Matcher` keywords.

    Returns
    -------
    list of Match
        At most ``top_k`` references, highest calibrated copy score first.
    """
    return matcher_for(index, **kw).match(query, top_k=top_k)


__all__ = ["Match", "Matcher", "match", "matcher_for", "calibrated_score", "DECISION", "DECISION_PRECISION"]
