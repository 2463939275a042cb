"""Local verification of a (query, reference) candidate pair with SIFT keypoints + RANSAC.

Design
------
* Features: OpenCV SIFT (RootSIFT-normalised for matching) on the image resized so its long
  side is at most 512 px, at most 600 keypoints. Reference features are stored in the index
  (uint8 descriptors + keypoint positions normalised to [0,1]; size per image in
  docs/copydetect.md), so
  verification never needs the reference file again. SIFT is not mirror-invariant, so the
  query is also described mirrored (a vertical flip is a mirror plus a 180-degree rotation),
  lazily: only when the plain features do not verify.
* Matching: brute-force L2 with Lowe's ratio 0.8, then a homography by USAC-MAGSAC
  (threshold 1.5% of the long side). Fewer than 8 inliers, or a homography that folds or
  shrinks an image by more than 50x in area, means "not verified".
* Output: inlier count, the matched region in both images (bounding box of the other image's
  footprint projected through the homography and clipped), and *asymmetric* coverage:
  ``reference_in_query`` (how much of the reference the query shows) and
  ``query_in_reference`` (how much of the query comes from the reference). A 50% crop of a
  reference gives query_in_reference ~1.0 and reference_in_query ~0.5; the reverse pair
  (the reference is a crop of the query) gives the mirror values.

The 8-inlier floor separates unrelated photo pairs (which rarely reach it) from copies that
survived the benchmark's transforms (which keep far more); the calibration of the copy score
(:mod:`sleuth.copydetect.calibration`) weighs the inlier count beyond that floor.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MAX_SIDE = 512
MAX_KEYPOINTS = 600
RATIO = 0.8
MIN_INLIERS = 8


@dataclass
class LocalFeatures:
    xy: np.ndarray  # Nx2 float32, positions normalised by (width, height) of the image described
    desc: np.ndarray  # Nx128 uint8 SIFT descriptors
    width: int
    height: int

    def to_bytes(self) -> bytes:
        head = np.array([len(self.xy), self.width, self.height], np.int32).tobytes()
        return head + self.xy.astype(np.float16).tobytes() + self.desc.astype(np.uint8).tobytes()

    @classmethod
    def from_bytes(cls, b: bytes) -> LocalFeatures:
        n, w, h = np.frombuffer(b[:12], np.int32)
        xy = np.frombuffer(b[12:12 + 4 * n], np.float16).reshape(n, 2).astype(np.float32)
        desc = np.frombuffer(b[12 + 4 * n:12 + 4 * n + 128 * n], np.uint8).reshape(n, 128)
        return cls(xy, desc, int(w), int(h))


_SIFT = None


def _sift():
    global _SIFT
    if _SIFT is None:
        import cv2

        _SIFT = cv2.SIFT.create(nfeatures=MAX_KEYPOINTS)
    return _SIFT


def extract(rgb: np.ndarray, mirror: bool = False) -> LocalFeatures:
    """SIFT features of an RGB image (mirrored horizontally when ``mirror``)."""
    import cv2

    h, w = rgb.shape[:2]
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if mirror:
        gray = gray[:, ::-1]
    s = min(1.0, MAX_SIDE / max(h, w))
    if s < 1:
        gray = cv2.resize(gray, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA)
    kps, desc = _sift().detectAndCompute(np.ascontiguousarray(gray), None)
    if desc is None or not kps:
        return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.uint8), w, h)
    gh, gw = gray.shape
    xy = np.array([k.pt for k in kps], np.float32) / np.array([gw, gh], np.float32)
    return LocalFeatures(xy, np.clip(desc, 0, 255).astype(np.uint8), w, h)


def _root(desc: np.ndarray) -> np.ndarray:
    d = desc.astype(np.float32)
    d /= d.sum(1, keepdims=True) + 1e-7
    return np.sqrt(d)


@dataclass
class Verification:
    inliers: int = 0
    matches: int = 0
    mirrored: bool = False
    reference_in_query: float = 0.0  # fraction of the reference's area visible in the query
    query_in_reference: float = 0.0  # fraction of the query's area that comes from the reference
    query_region: list[int] | None = None  # [x0, y0, x1, y1] in query pixels
    reference_region: list[int] | None = None  # [x0, y0, x1, y1] in reference pixels
    extra: dict = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        return self.inliers >= MIN_INLIERS

    @property
    def relation(self) -> str:
        if not self.verified:
            return "none"
        a, b = self.query_in_reference, self.reference_in_query
        if a >= 0.8 and b >= 0.8:
            return "same-extent"
        if a >= 0.8:
            return "query-is-crop-of-reference"
        if b >= 0.8:
            return "reference-contained-in-query"
        return "partial-overlap"

    def to_dict(self) -> dict:
        return {"inliers": self.inliers, "matches": self.matches, "mirrored": self.mirrored,
                "reference_in_query": round(self.reference_in_query, 4),
                "query_in_reference": round(self.query_in_reference, 4),
                "query_region": self.query_region, "reference_region": self.reference_region,
                "relation": self.relation}


def _rect(w: float, h: float) -> np.ndarray:
    return np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)


def _project(H: np.ndarray, pts: np.ndarray) -> np.ndarray | None:
    p = np.hstack([pts, np.ones((len(pts), 1), np.float32)]) @ H.T
    if np.any(p[:, 2] <= 1e-6):
        return None
    return (p[:, :2] / p[:, 2:3]).astype(np.float32)


def _footprint(H: np.ndarray, src_wh: tuple[float, float], dst_wh: tuple[float, float]) -> tuple[float, list[int] | None]:
    """Fraction of the destination covered by the source rectangle mapped through H, and its box."""
    import cv2

    poly = _project(H, _rect(*src_wh))
    if poly is None:
        return 0.0, None
    hull = cv2.convexHull(poly)
    area, inter = cv2.intersectConvexConvex(hull.reshape(-1, 2), _rect(*dst_wh))
    if inter is None or area <= 0:
        return 0.0, None
    x0, y0 = inter.reshape(-1, 2).min(0)
    x1, y1 = inter.reshape(-1, 2).max(0)
    return min(1.0, float(area) / float(dst_wh[0] * dst_wh[1])), [int(x0), int(y0), int(np.ceil(x1)), int(np.ceil(y1))]


def _match_one(q: LocalFeatures, r: LocalFeatures) -> tuple[int, int, np.ndarray | None, np.ndarray | None]:
    import cv2

    if len(q.desc) < MIN_INLIERS or len(r.desc) < MIN_INLIERS:
        return 0, 0, None, None
    bf = cv2.BFMatcher(cv2.NORM_L2)
    knn = bf.knnMatch(_root(q.desc), _root(r.desc), k=2)
    good = [m[0] for m in knn if len(m) == 2 and m[0].distance < RATIO * m[1].distance]
    if len(good) < MIN_INLIERS:
        return 0, len(good), None, None
    # work in pixel units of each image
    qp = q.xy[[m.queryIdx for m in good]] * np.array([q.width, q.height], np.float32)
    rp = r.xy[[m.trainIdx for m in good]] * np.array([r.width, r.height], np.float32)
    thr = 0.015 * max(q.width, q.height)
    try:
        H, mask = cv2.findHomography(rp, qp, cv2.USAC_MAGSAC, thr, maxIters=2000, confidence=0.999)
    except cv2.error:
        H, mask = None, None
    if H is None or mask is None:
        return 0, len(good), None, None
    n_in = int(mask.sum())
    # reject degenerate homographies (folds, huge scale changes)
    det = float(np.linalg.det(H[:2, :2]))  # MAGSAC only returns orientation-preserving maps
    if not np.isfinite(det) or not (1 / 50 < abs(det) < 50):
        return 0, len(good), None, None
    return n_in, len(good), H, mask


def verify(query, ref: LocalFeatures) -> Verification:
    """Verify a pair. ``query`` is LocalFeatures, or (features, mirrored) where ``mirrored`` is
    LocalFeatures or a zero-argument callable returning them: the mirrored variant (flips) is only
    tried, and only computed, when the plain one does not verify."""
    if isinstance(query, LocalFeatures):
        variants = [(query, False)]
    else:
        variants = [(query[0], False), (query[1], True)]
    best = Verification()
    for qf, mirrored in variants:
        if mirrored and best.verified:
            break
        if callable(qf):
            qf = qf()
        n_in, n_m, H, _ = _match_one(qf, ref)
        if n_in <= best.inliers or H is None:
            best.matches = max(best.matches, n_m)
            continue
        v = Verification(inliers=n_in, matches=n_m, mirrored=mirrored)
        qwh, rwh = (qf.width, qf.height), (ref.width, ref.height)
        if mirrored:  # mirrored features live in the mirrored frame: map back to the query's
            H = np.array([[-1, 0, qf.width], [0, 1, 0], [0, 0, 1]], np.float64) @ H
        # the reference's footprint inside the query: how much of the query comes from it
        v.query_in_reference, v.query_region = _footprint(H, rwh, qwh)
        # the query's footprint inside the reference: how much of the reference it shows
        v.reference_in_query, v.reference_region = _footprint(np.linalg.inv(H), qwh, rwh)
        best = v
    return best
