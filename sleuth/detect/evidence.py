"""The ``ai-generated`` analyzer for ``sleuth scan`` (kind ai-generated, tier full).

It is a pixel signal, kept apart from metadata claims (generator fields, C2PA) by the report's
kinds. Verdict "ai-generated" / "real" at the head's default operating point (1% FPR on
development real photos), "uncertain" when the reliability flags fire; the calibrated
probability is the score; details carry per-detector scores, the detectors that fired, the
family and the reliability facts; the map ``ai-tiles`` is the tile-level NPR score map.
"""
from __future__ import annotations

from ..analyzers import register
from ..report import Evidence


@register("ai-generated", kind="ai-generated", tier="full", order=60,
          description="AI-generated image detection (CLIP probe, RIGID, spectral, NPR; calibrated fusion) and attribution")
def analyze(img, ctx) -> Evidence:
    from .detector import AigenDetector

    r = AigenDetector.shared(ctx.get("aigen_head")).analyse(img, with_map=True)
    if r.verdict == "uncertain":
        strength = "none"
        summary = (f"AI probability {r.probability:.2f} but low reliability ({', '.join(r.reliability['flags'])}); "
                   "no verdict")
    else:
        margin = abs(r.probability - r.threshold)
        strength = "strong" if margin > 0.3 else ("moderate" if margin > 0.1 else "weak")
        if r.is_ai:
            fam = f", family {r.family}" + (f" ({r.family_probability:.2f})" if r.family_probability else "")
            summary = f"AI-generated, probability {r.probability:.2f} (threshold {r.threshold:.2f} at {r.fpr_target:.0%} FPR){fam}"
        else:
            summary = f"no AI-generation signal, probability {r.probability:.2f} (threshold {r.threshold:.2f} at {r.fpr_target:.0%} FPR)"
    d = r.to_dict()
    d.pop("path", None)
    d.pop("error", None)
    return Evidence(analyzer="ai-generated", kind="ai-generated", verdict=r.verdict, score=r.probability,
                    strength=strength, summary=summary, details=d).with_maps(r.maps)
