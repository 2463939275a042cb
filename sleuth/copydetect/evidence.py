"""The ``copy`` scan analyzer: match the scanned image against a configured copy-detection index.

Design: returns None unless ``ctx.get("index")`` names an index (``sleuth scan --index DIR`` or
``SLEUTH_INDEX``). The Matcher is opened once per process and reused across images. The verdict
is ``copy`` when the best match's calibrated score reaches the decision threshold
(:data:`sleuth.copydetect.calibration.DECISION`), else ``no-evidence``. A heatmap ``matched_region``
marks the part of the scanned image that matched the reference (from local verification).
"""
from __future__ import annotations

import numpy as np

from ..analyzers import register
from ..report import Evidence


@register("copy", kind="copy", tier="full", order=80, description="Copy detection against a reference index (needs --index)")
def analyze(img, ctx):
    index = ctx.get("index")
    if not index:
        return None
    from .api import matcher_for

    verify = bool(ctx.get("copy_verify", True))
    matches = matcher_for(index, verify=verify).match(img, top_k=int(ctx.get("copy_top_k", 3) or 3))
    if not matches:
        return Evidence(analyzer="copy", kind="copy", verdict="no-evidence", score=0.0, strength="none",
                        summary="no candidate reference found", details={"index": str(index), "matches": []})
    best = matches[0]
    if best.is_copy:
        strength = "strong" if best.score >= 0.95 else "moderate"
        summ = (f"copy of reference #{best.id} ({best.path}), score {best.score:.2f}"
                + (f", {best.verification.inliers} matching keypoints, {best.verification.relation}" if best.verification.inliers else ""))
        verdict = "copy"
    else:
        strength = "weak" if best.score >= 0.2 else "none"
        summ = f"no copy found; closest reference #{best.id} scored {best.score:.2f}"
        verdict = "no-evidence"
    ev = Evidence(analyzer="copy", kind="copy", verdict=verdict, score=round(best.score, 6), strength=strength,
                  summary=summ, details={"index": str(index), "matches": [m.to_dict() for m in matches]})
    box = best.verification.query_region
    if best.is_copy and box:
        heat = np.zeros((img.height, img.width), np.float32)
        x0, y0, x1, y1 = box
        heat[max(0, y0):max(0, y1), max(0, x0):max(0, x1)] = 1.0
        ev.with_maps({"matched_region": heat})
    return ev
