"""The ``ai-generated`` analyzer for ``sleuth scan`` (kind ai-generated, tier full).

It is a pixel signal, kept apart from metadata claims (generator fields, C2PA) by the report's
kinds. Verdict "likely-ai" / "no-evidence" at the head's default operating point (1% FPR on
development real photos), "uncertain" when the reliability flags fire; the calibrated
probability is the score. ``details`` (the contract the report reads): ``probability``,
``threshold``, ``target_fpr``, ``band`` (likely-ai / uncertain / no-ai-signal / not-enough-signal,
edges in docs/detect.md), ``reliability`` (list of flag strings, empty when fine),
``reliability_facts`` (the facts behind them), ``family`` ("unknown" when not attributed), plus the
per-detector scores, the detectors that fired and the rest of ``sleuth detect``'s JSON. The map
``ai-tiles`` is the crop score map (format-2 heads) or the NPR tile map (format 1).
"""
from __future__ import annotations

from ..analyzers import register
from ..report import Evidence


@register("ai-generated", kind="ai-generated", tier="full", order=60,
          description="AI-generated image detection (all-block CLIP tower probe, CLIP probe, spectral; calibrated fusion) and attribution")
def analyze(img, ctx) -> Evidence:
    from .detector import AigenDetector

    r = AigenDetector.shared(ctx.get("aigen_head")).analyse(img, with_map=True)
    if r.band == "not-enough-signal":
        strength = "none"
        summary = f"not enough signal to judge AI generation (image under 64 px; probability {r.probability:.2f})"
    elif r.verdict == "uncertain":
        strength = "none"
        summary = (f"AI probability {r.probability:.2f} but low reliability ({', '.join(r.reliability['flags'])}); "
                   "no verdict")
    else:
        margin = abs(r.probability - r.threshold)
        strength = "strong" if margin > 0.3 else ("moderate" if margin > 0.1 else "weak")
        if r.is_ai:
            fam = f", family {r.family}" + (f" ({r.family_probability:.2f})" if r.family_probability else "")
            summary = f"AI-generated, probability {r.probability:.2f} (threshold {r.threshold:.2f} at {r.fpr_target:.0%} FPR){fam}"
        elif r.band == "uncertain":
            strength = "weak"
            summary = (f"weak AI-generation signal, probability {r.probability:.2f} (above the 5% FPR edge "
                       f"{r.threshold_low:.2f}, below the {r.fpr_target:.0%} FPR threshold {r.threshold:.2f}): uncertain")
        else:
            summary = f"no AI-generation signal, probability {r.probability:.2f} (threshold {r.threshold:.2f} at {r.fpr_target:.0%} FPR)"
    d = r.to_dict()
    d.pop("path", None)
    d.pop("error", None)
    d["reliability_facts"] = d.pop("reliability")
    d["reliability"] = list(r.reliability.get("flags", []))
    d["target_fpr"] = r.fpr_target
    d["family"] = (r.family or "unknown") if r.is_ai else None  # a family is named only for an AI verdict
    return Evidence(analyzer="ai-generated", kind="ai-generated", verdict=r.verdict, score=r.probability,
                    strength=strength, summary=summary, details=d).with_maps(r.maps)
