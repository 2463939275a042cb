"""The ``watermark`` analyzer: is the user's own sleuth mark in this image?

Runs only when ``ctx.get("watermark_keys")`` is non-empty (``sleuth scan --key`` or
``SLEUTH_WATERMARK_KEY``); returns None otherwise. The evidence carries the p-value, the
decision at ``ctx.get("watermark_fpr", 1e-6)``, the decoded message when detected, and the
index of the matching key, never the key itself.
"""
from __future__ import annotations

from ..analyzers import register
from ..report import Evidence


@register("watermark", kind="watermark", tier="full", order=40,
          description="sleuth's own robust watermark for the configured key(s): p-value and payload")
def analyze(img, ctx):
    keys = [k for k in (ctx.get("watermark_keys") or []) if k]
    if not keys:
        return None
    from .api import DEFAULT_FPR, verify_image

    fpr = float(ctx.get("watermark_fpr") or DEFAULT_FPR)
    r = verify_image(img, keys, method=ctx.get("watermark_method") or "sleuth", fpr=fpr,
                     bits=int(ctx.get("watermark_bits") or 64))
    p = r["p_value"]
    if r["detected"]:
        strength = "strong" if p <= fpr * 1e-3 else "moderate"
        msg = f", message {r['message']!r}" if r["message"] is not None else " (payload not decodable)"
        summary = f"your watermark is present (p = {p:.2g}{msg})"
        verdict = "detected"
    else:
        strength, verdict = "none", "no-evidence"
        summary = f"your watermark was not detected (p = {p:.2g} > {fpr:g})"
    details = {k: r[k] for k in ("method", "fpr", "message", "message_hex", "bit_errors_corrected", "key_index", "score")}
    if "geometry" in r:
        details["geometry"] = r["geometry"]
    return Evidence(analyzer="watermark", kind="watermark", verdict=verdict, score=r["score"], p_value=p,
                    strength=strength, summary=summary, details=details)
