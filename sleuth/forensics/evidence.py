"""Forensic analyzers registered with the scan pipeline, and the fused ``manipulation`` item.

Design
------
Eight analyzers (kind "manipulation", tier "full"): ``ela``, ``noise``, ``jpeg-ghost``,
``jpeg-dq``, ``copy-move``, ``resampling``, ``self-consistency``, ``scaling-attack``, plus ``manipulation``, the
calibrated decision (:mod:`.fusion`, :mod:`.decision`), and the opt-in ``dense-copy-move``
(option ``dense_copy_move_enabled``; it returns nothing otherwise and is not in the decision). Analyzers never call each other, so the per-image results are computed once by
:func:`analyze_image` and cached in the scan context's per-image cache: running the fused item alone costs the
same as running all of them. Each item has ``score`` = a probability-like value in [0,1]
(higher = more likely manipulated), ``details.raw_score`` on the analyzer's own scale,
``details.reliable`` and a reason, and one heatmap the size of the image (above 12 MP the map
keeps the aspect at 12 MP, 48 MB of float32; ``sleuth forensics`` writes PNGs at the exact image size).
JPEG-only analyzers on other formats and tiny/flat images give verdicts "skipped" and
"not-enough-signal" with the reason, never a verdict on nothing.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..analyzers import register
from ..report import Evidence
from . import copymove, densecm, ela, jpeg, noise, resampling, scaling, selfconsistency
from .common import Result, timed, upsample
from .fusion import analyzer_calibration, fuse, probability, stacked

ANALYZERS = ("ela", "noise", "jpeg-ghost", "jpeg-dq", "copy-move", "resampling", "self-consistency", "scaling-attack")
DESCRIPTIONS = {
    "ela": "Error level analysis at JPEG 75/85/95, normalised by local texture (heatmap).",
    "noise": "Local noise-level inconsistency from the wavelet HH band (heatmap).",
    "jpeg-ghost": "JPEG ghosts: regions with another compression history (JPEG only, heatmap).",
    "jpeg-dq": "Aligned double quantisation from the DCT coefficients (JPEG only, heatmap).",
    "copy-move": "Clone detection: SIFT self-matching, RANSAC, dense check, block fallback (heatmap).",
    "resampling": "Resampled (scaled/rotated) regions from interpolation periodicity (heatmap).",
    "self-consistency": "Regions whose learnt camera/compression-pipeline embedding differs from the rest of the image (heatmap).",
    "scaling-attack": "Image-scaling attack check (Decamouflage-style rescaling, blockiness and spectral tests).",
    "dense-copy-move": "Dense-field clone detection: Zernike moments, PatchMatch, dense linear fitting (opt-in, heatmap).",
}
_CACHE_ATTR = "_sleuth_forensics"


def _sizes(ctx) -> Any:
    s = ctx.get("scaling_sizes") if ctx is not None else None
    return s or None


def _run(name: str, img, ctx) -> Result:
    rgb = img.rgb
    fns = {
        "ela": lambda: ela.analyze(rgb),
        "noise": lambda: noise.analyze(rgb),
        "jpeg-ghost": lambda: jpeg.ghost(img),
        "jpeg-dq": lambda: jpeg.double_quantisation(img),
        "copy-move": lambda: copymove.analyze(rgb),
        "resampling": lambda: resampling.analyze(rgb),
        "self-consistency": lambda: selfconsistency.analyze(rgb),
        "scaling-attack": lambda: scaling.analyze(rgb, is_jpeg=img.is_jpeg, sizes=_sizes(ctx)),
        "dense-copy-move": lambda: densecm.analyze(rgb),
    }
    r = timed(name, fns[name])
    r.name = name
    q = jpeg.estimate_quality(jpeg.luma_qtable(img)) if img.is_jpeg else None
    if r.status == "ok" and name in ("ela", "noise", "self-consistency") and q is not None and q < 60:
        r.reliable, r.reason = False, f"JPEG quality ~{q}: compression has erased most of the local detail"
    return r


def analyze_image(img, ctx=None, names=ANALYZERS) -> dict[str, Result]:
    """Run (or reuse) the forensic analyzers on one image."""
    cache = ctx.cache.setdefault(_CACHE_ATTR, {}) if ctx is not None else {}
    for n in names:
        if n not in cache:
            cache[n] = _run(n, img, ctx)
    return {n: cache[n] for n in names}


def map_shape(h: int, w: int) -> tuple[int, int]:
    return upsample(np.zeros((1, 1), np.float32), h, w).shape


def _strength(p: float) -> str:
    return "strong" if p >= 0.9 else "moderate" if p >= 0.7 else "weak" if p >= 0.5 else "none"


def to_evidence(r: Result, img) -> Evidence:
    if r.status != "ok":
        return Evidence(analyzer=r.name, kind="manipulation", verdict=r.status, strength="none", summary=r.reason,
                        details={"reliable": False, "seconds": round(r.seconds, 3)})
    p = probability(r)
    if r.name == "scaling-attack":
        verdict = "scaling-attack" if r.details.get("detected") else "no-evidence"
        summ = ("image changes into a different picture when downscaled (image-scaling attack)"
                if r.details.get("detected") else "no sign of an image-scaling attack")
    else:
        verdict = "manipulated" if p >= 0.5 else "no-evidence"
        summ = f"{r.name}: {'an inconsistent region stands out' if p >= 0.5 else 'no inconsistent region'}"
        if r.reason:
            summ += f" ({r.reason})"
    cal = analyzer_calibration(r.name) or {}
    ev = Evidence(analyzer=r.name, kind="manipulation", verdict=verdict, score=round(p, 4), strength=_strength(p),
                  summary=summ, details={"raw_score": None if r.score is None else round(float(r.score), 4),
                                         "reliable": r.reliable, "reason": r.reason, "seconds": round(r.seconds, 3),
                                         "target_fpr": r.details.get("target_fpr", cal.get("target_fpr")), "threshold": 0.5,
                                         "raw_threshold": cal.get("threshold"), **r.details})
    if r.heat is not None and (r.name != "scaling-attack" or r.details.get("detected")):
        ev.with_maps({"heatmap": upsample(r.heat, img.height, img.width)})
    return ev


def _make(name: str):
    def fn(img, ctx):
        return to_evidence(analyze_image(img, ctx, (name,))[name], img)

    fn.__doc__ = f"Forensic analyzer {name} (heatmap, score, reliability)."
    return fn


for _i, _n in enumerate(ANALYZERS):
    register(_n, kind="manipulation", tier="full", order=60 + _i, description=DESCRIPTIONS[_n])(_make(_n))


def dense_copy_move(img, ctx):
    """Dense-field copy-move (opt-in: option ``dense_copy_move_enabled``; not part of the fused decision)."""
    if ctx is None or not ctx.get("dense_copy_move_enabled"):
        return None
    return to_evidence(analyze_image(img, ctx, ("dense-copy-move",))["dense-copy-move"], img)


register("dense-copy-move", kind="manipulation", tier="full", order=60 + len(ANALYZERS),
         description=DESCRIPTIONS["dense-copy-move"])(dense_copy_move)


def fused_evidence(img, ctx=None) -> Evidence:
    results = analyze_image(img, ctx)
    mh, mw = map_shape(img.height, img.width)
    score, fmap, probs = fuse(results, img.height, img.width, (mh, mw))
    sc = results["scaling-attack"]
    scaling_attack = {"detected": bool(sc.details.get("detected", False)), "score": None if sc.score is None else round(float(sc.score), 4)}
    per = {n: {"p": round(probs[n], 4), "status": r.status, "reliable": r.reliable,
               "reason": r.reason, "seconds": round(r.seconds, 3)} for n, r in results.items()}
    if score is None:
        return Evidence(analyzer="manipulation", kind="manipulation", verdict="not-enough-signal", strength="none",
                        summary=next((r.reason for r in results.values() if r.reason), "not enough signal"),
                        details={"analyzers": per, "scaling_attack": scaling_attack})
    st = stacked(results) or {}
    if scaling_attack["detected"] and sc.score is not None:
        score = max(score, float(sc.score))
    top = sorted(((p, n) for n, p in probs.items() if n != "scaling-attack"), reverse=True)
    fired = [n for p, n in top if p >= 0.5]
    verdict = "manipulated" if score >= 0.5 else "no-evidence"
    if verdict == "manipulated":
        why = list(fired) or [n for _, n in top[:2]]
        if scaling_attack["detected"]:
            why = ["scaling-attack"] + why
        summ = f"signs of manipulation (at {st.get('target_fpr', 0.01):.0%} false alarms on pristine photos) from {', '.join(why)}"
    else:
        summ = "no forensic evidence of manipulation at the calibrated operating point"
    details = {"integrity_score": round(score, 4), "analyzers": per, "scaling_attack": scaling_attack,
               "map_scale": round(mh / img.height, 4), "threshold": 0.5, "target_fpr": st.get("target_fpr"),
               "decision": "stacked" if st else "max-analyzer (no decision file)"}
    if st:
        details.update({"stacked_probability": round(st["probability"], 4), "stacked_threshold": round(st["threshold"], 4)})
    ev = Evidence(analyzer="manipulation", kind="manipulation", verdict=verdict, score=round(score, 4),
                  strength=_strength(score), summary=summ, details=details)
    return ev.with_maps({"fused": fmap})


register("manipulation", kind="manipulation", tier="full", order=70,
         description="Fused manipulation evidence: integrity score and localisation map.")(fused_evidence)
