"""The report's top-level summary: claims kept apart from signals, in words people can check.

Design
------
``summarise`` reads each analyzer's declarations from the registry (``role``: claim or
signal; ``origin_effect``: how its verdict bears on origin), the verdict normalised to its
kind's vocabulary (:data:`sleuth.report.VERDICTS`) and a few standard detail keys
(``ai_generated``, ``digital_source_type``, ``make``/``model``, ``editors``, ``xmp_history``,
``actions``, ``failing_codes``, ``threshold``/``fpr_target``, ``reliability``). It names no
analyzer, so a new analyzer plugs in by declaring itself.

* Origin: a metadata *claim* of AI generation, a pixel *signal* (a generator's mark, the
  detector at its calibrated threshold), both, or a camera claim. A C2PA failure is worded by
  class: a signature/credential problem leaves the manifest's claims standing as *unverified
  claims*; a content-hash mismatch (pixels changed after signing) and an unreadable manifest
  are not counted; the raw codes are always shown.
* Editing: EXIF software, XMP history and C2PA edit actions (opened, edited, placed,
  composited, ...) are edit *claims*; a forensic map that fired is an edit *signal* with where
  it is hot, in words.
* Where metadata and pixels disagree, one sentence says so (``conflicts``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .report import (
    NOTHING,
    QUIET_VERDICTS,
    AISummary,
    Evidence,
    ManipulationSummary,
    Report,
    Summary,
    normalise_verdict,
    verdict_label,
)

AI_SOURCE_WORDS = ("trainedAlgorithmic", "algorithmicMedia", "compositeSynthetic")
#: C2PA action names (the part after ``c2pa.``) that record an edit of earlier content
EDIT_ACTIONS = {"edited", "opened", "placed", "composited", "cropped", "resized", "filtered", "color_adjustments",
                "drawing", "removed", "orientation", "transcoded"}
#: C2PA validation codes by class: (class, prefixes, the words people read)
C2PA_CLASSES = (
    ("credential", ("signingCredential.", "claimSignature.", "timeStamp.", "certificate."),
     "C2PA signature or credential problem"),
    ("content", ("assertion.dataHash.", "assertion.bmffHash.", "assertion.boxesHash.", "assertion.collectionHash.",
                 "assertion.hashedURI.", "assertion.inaccessible"),
     "C2PA content-hash mismatch"),
    ("unreadable", ("manifest.", "claim.", "jumbf", "assertion.json", "assertion.cbor", "assertion.missing"),
     "C2PA manifest unreadable"),
)


def _spec(name: str, kind: str) -> tuple[str, str]:
    """(role, origin_effect) declared by analyzer ``name`` (kind defaults when not registered)."""
    from .analyzers import _REGISTRY, available, default_origin_effect

    spec = _REGISTRY.get(name) or available().get(name)
    if spec is not None:
        return spec.role, getattr(spec, "origin_effect", default_origin_effect(kind))
    return ("claim" if kind == "provenance" else "signal"), default_origin_effect(kind)


def c2pa_class(codes: list[str]) -> tuple[str, str]:
    """Classify C2PA failure codes: ('credential' | 'content' | 'unreadable' | 'other', words).

    Parameters
    ----------
    codes : list of str
        Raw validation codes (``failing_codes``).

    Returns
    -------
    tuple of str
        The class and its wording; a content-hash code wins over a credential code.
    """
    found = {cls for cls, prefixes, _ in C2PA_CLASSES for c in codes if c.startswith(prefixes)}
    for cls, _, words in sorted(C2PA_CLASSES, key=lambda t: ("content", "unreadable", "credential").index(t[0])):
        if cls in found:
            return cls, words
    return "other", "C2PA manifest invalid"


def _is_ai_source(dst: Any) -> bool:
    return any(w in str(dst or "") for w in AI_SOURCE_WORDS)


def _edit_claims(d: dict[str, Any]) -> list[str]:
    """Edit history carried by metadata details, as short phrases."""
    out = [f"software names an editor: {x}" for x in d.get("editors") or []]
    for h in d.get("xmp_history") or []:
        if isinstance(h, dict) and (h.get("action") or h.get("softwareAgent")):
            out.append(f"XMP history: {h.get('action') or 'changed'}"
                       + (f" by {h['softwareAgent']}" if h.get("softwareAgent") else ""))
    if d.get("photoshop_history"):
        out.append("Photoshop history present")
    for a in d.get("actions") or []:
        name = str((a or {}).get("action") or "")
        if name.split(".")[1:2] and name.split(".")[1] in EDIT_ACTIONS:
            agent = a.get("software_agent") or a.get("softwareAgent")
            out.append(f"C2PA action {name}" + (f" by {agent}" if agent else ""))
    for inc in d.get("inconsistencies") or []:
        if "editor" not in inc and "DigitalSourceType" not in inc:
            out.append(str(inc))
    return list(dict.fromkeys(out))


def _place(cy: float, cx: float) -> str:
    row = ("top", "middle", "bottom")[min(2, int(cy * 3))]
    col = ("left", "centre", "right")[min(2, int(cx * 3))]
    return "centre" if (row, col) == ("middle", "centre") else (col if row == "middle" else f"{row} {col}")


def _region_words(heat: np.ndarray) -> str | None:
    """Where a [0,1] map is hot, e.g. 'top right and bottom left, ~6% of the image' (up to two regions)."""
    import cv2

    h = np.nan_to_num(np.asarray(heat, np.float32))
    if h.size == 0 or float(h.max()) <= 0:
        return None
    mask = (h >= float(h.max()) * 0.6).astype(np.uint8)
    n, _, stats, cents = cv2.connectedComponentsWithStats(mask, connectivity=8)
    order = sorted(range(1, n), key=lambda i: -stats[i, cv2.CC_STAT_AREA])
    big = [i for i in order if stats[i, cv2.CC_STAT_AREA] >= 0.2 * stats[order[0], cv2.CC_STAT_AREA]][:2]
    places = list(dict.fromkeys(_place(cents[i][1] / h.shape[0], cents[i][0] / h.shape[1]) for i in big))
    return f"{' and '.join(places)}, ~{max(1, round(100 * float(mask.mean())))}% of the image"


class _Acc:
    """What the evidence items say, gathered before the wording."""

    def __init__(self) -> None:
        self.claims: list[str] = []
        self.signals: list[str] = []
        self.quiet: list[str] = []
        self.failed: list[str] = []
        self.ai_claim: list[str] = []
        self.unverified: list[str] = []
        self.camera: str | None = None
        self.edits: list[str] = []
        self.c2pa: list[tuple[str, str, list[str]]] = []
        self.marks: list[str] = []
        self.ai: AISummary | None = None
        self.manip: ManipulationSummary | None = None
        self.manip_rank = -1.0
        self.copies: int | None = None
        self.own_mark: str | None = None
        self.because: list[str] = []


def _claim(acc: _Acc, e: Evidence, v: str | None, effect: str, line: str) -> None:
    d = e.details or {}
    if v == "invalid":
        codes = list(dict.fromkeys(str(c) for c in d.get("failing_codes") or []))
        cls, words = c2pa_class(codes)
        acc.c2pa.append((cls, words, codes))
        acc.claims.append(line)
        if cls == "credential":  # the signer cannot be verified; what it claims still stands as a claim
            if d.get("ai_generated") or _is_ai_source(d.get("digital_source_type")):
                acc.unverified.append(f"AI generation ({d.get('digital_source_type') or 'ai_generated'})")
            acc.unverified += [f"{x} (unverified)" for x in _edit_claims(d)]
        return
    if e.error or v in QUIET_VERDICTS or (e.strength == "none" and v in ("present", None)):
        (acc.failed if e.error else acc.quiet).append(e.analyzer)
        return
    acc.claims.append(line)
    dst = d.get("digital_source_type")
    if v == "ai-generated" or d.get("ai_generated") or _is_ai_source(dst) or (effect == "ai" and v != NOTHING):
        acc.ai_claim.append(e.analyzer)
    if "digitalCapture" in str(dst or "") or d.get("make"):  # "model" alone is also a generator's model name
        acc.camera = " ".join(str(d[k]) for k in ("make", "model") if d.get(k)) or "digital capture"
    acc.edits += _edit_claims(d)


def _signal(acc: _Acc, e: Evidence, v: str | None, effect: str, line: str) -> None:
    d = e.details or {}
    if e.kind == "ai-generated" and not e.error:
        _ai(acc, e, v)
    elif e.kind == "manipulation" and not e.error:
        rank = (2.0 if "integrity_score" in d else 1.0) + float(e.score or 0)
        if rank > acc.manip_rank and v not in ("skipped", None):
            acc.manip_rank = rank
            fired = [n for n, r in (d.get("analyzers") or {}).items() if isinstance(r, dict) and (r.get("p") or 0) >= 0.5]
            where = next((_region_words(m) for m in e.maps.values()), None) if v in ("manipulated", "scaling-attack") else None
            acc.manip = ManipulationSummary(score=e.score, verdict=v, label=verdict_label("manipulation", v),
                                            where=where, analyzers=fired or ([e.analyzer] if v == "manipulated" else []))
    elif e.kind == "copy" and not e.error:
        acc.copies = (sum(1 for m in d.get("matches") or [] if m.get("is_copy")) or 1) if v == "copy" else 0
    elif e.kind == "watermark" and effect == "none" and not e.error:
        acc.own_mark = v
    if e.error or v in QUIET_VERDICTS or e.strength == "none":
        (acc.failed if e.error else acc.quiet).append(e.analyzer)
        return
    acc.signals.append(line)
    if e.kind == "watermark" and effect == "ai":
        acc.marks.append(str(d.get("mark") or e.verdict))


def _ai(acc: _Acc, e: Evidence, v: str | None) -> None:
    d = e.details or {}
    band = d.get("band")
    if band:
        v = normalise_verdict("ai-generated", band)
    rel = d.get("reliability")
    flags = rel.get("flags") if isinstance(rel, dict) else rel
    flags = [f if isinstance(f, str) else str((f or {}).get("flag") or (f or {}).get("name") or f) for f in flags or []]
    if not band and v == "uncertain" and flags:  # older detectors: "uncertain" meant "reliability low"
        v = "not-enough-signal"
    note = None
    if flags or v == "not-enough-signal":
        note = ("read with care: the detector is calibrated on photographs"
                + (f"; this image is flagged {', '.join(flags)}" if flags else ""))
    acc.ai = AISummary(probability=e.score if e.score is not None else d.get("probability"),
                       threshold=d.get("threshold"), fpr=d.get("target_fpr", d.get("fpr_target")), verdict=v,
                       label=verdict_label("ai-generated", v), family=d.get("family") if v == "likely-ai" else None,
                       note=note)


def _gather(report: Report) -> _Acc:
    acc = _Acc()
    for e in report.evidence:
        role, effect = _spec(e.analyzer, e.kind)
        v = normalise_verdict(e.kind, e.verdict, effect)
        line = f"{e.analyzer}: {e.summary}" if e.summary else f"{e.analyzer}: {verdict_label(e.kind, v)}"
        (_claim if role == "claim" else _signal)(acc, e, v, effect, line)
    return acc


def _conflicts(acc: _Acc, ai_signal: bool) -> list[str]:
    out = []
    for cls, words, codes in acc.c2pa:
        raw = ", ".join(codes) or "no failure codes given"
        if cls == "content":
            out.append(f"{words} ({raw}): the pixels changed after the manifest was signed, so its claims describe "
                       "an earlier version and are not counted")
        elif cls == "other":
            out.append(f"the C2PA manifest is invalid ({raw}): its claims are not counted")
    ai = acc.ai
    if acc.camera and ai_signal:
        how = f"the mark {', '.join(acc.marks)}" if acc.marks else f"the detector (P(AI) {ai.probability:.2f})" if ai and ai.probability is not None else "the pixels"
        out.append(f"Metadata names a camera ({acc.camera}) but {how} points to an AI generator")
    if acc.ai_claim and not ai_signal and ai and ai.verdict == NOTHING and ai.probability is not None:
        thr = f" < threshold {ai.threshold:.2f}" if ai.threshold is not None else ""
        out.append(f"Metadata claims AI generation but the pixel detectors did not fire (P(AI) {ai.probability:.2f}{thr})")
    m = acc.manip
    if acc.camera and not acc.edits and m and m.verdict in ("manipulated", "scaling-attack"):
        out.append(f"Metadata names a camera and records no editing, but forensic analysis finds a {m.label}"
                   + (f" ({m.where})" if m.where else ""))
    return out


def summarise(report: Report) -> Summary:
    """Build the top-level summary without merging metadata claims and pixel signals.

    Parameters
    ----------
    report : Report
        A report with its evidence (maps still attached give the "where" of an edit).

    Returns
    -------
    Summary
    """
    if report.error:
        return Summary(origin="unknown", text=f"not analysed: {report.error}", headline="not analysed", tone="error")
    acc = _gather(report)
    ai_signal = bool(acc.marks) or bool(acc.ai and acc.ai.verdict == "likely-ai")
    conflicts = _conflicts(acc, ai_signal)
    basis: list[Any] = []
    m = acc.manip
    edited_signal = bool(m and m.verdict in ("manipulated", "scaling-attack"))
    if acc.ai_claim or ai_signal:
        headline, tone = "AI-generated", "ai"
        basis = (["claim"] if acc.ai_claim else []) + (["signal"] if ai_signal else [])
        acc.because = [f"claim: {a}" for a in acc.ai_claim] + [f"mark: {x}" for x in acc.marks]
        if acc.ai and acc.ai.verdict == "likely-ai":
            acc.because.append(f"detector: P(AI) {acc.ai.probability:.2f}")
    elif acc.unverified:
        headline, tone, basis = "unverified claims", "info", ["claim"]
    elif acc.edits or edited_signal:
        headline, tone = "edited", "edited"
        basis = (["claim"] if acc.edits else []) + (["signal"] if edited_signal else [])
    elif acc.camera:
        headline, tone, basis = "camera photo", "clean", ["claim"]
    else:
        headline = "no evidence"
        tone = "clean" if acc.ai and acc.ai.verdict == NOTHING else "info"
    origin = _origin(acc, ai_signal)
    problems = [f"{words} ({', '.join(codes) or 'no codes'})" for _, words, codes in acc.c2pa]
    text = _text(acc, origin, ai_signal, edited_signal, problems, conflicts)
    return Summary(origin=origin, claims=acc.claims, signals=acc.signals, conflicts=conflicts, text=text,
                   headline=headline, tone=tone, basis=basis, ai=acc.ai, manipulation=acc.manip, copies=acc.copies,
                   own_mark=acc.own_mark, marks=acc.marks, edits=acc.edits, unverified_claims=acc.unverified,
                   c2pa_problems=problems, quiet=acc.quiet, because=acc.because, failed=acc.failed)


def _origin(acc: _Acc, ai_signal: bool) -> str:
    if acc.ai_claim and ai_signal:
        return "ai-generated"
    if acc.ai_claim:
        return "ai-generated (claimed)"
    if ai_signal:
        return "ai-generated (signal)"
    if any(u.startswith("AI generation") for u in acc.unverified):
        return "ai-generated (unverified claim)"
    if acc.camera:
        return "camera (claimed)"
    return "unknown"


def _text(acc: _Acc, origin: str, ai_signal: bool, edited_signal: bool, problems: list[str],
          conflicts: list[str]) -> str:
    sent = {
        "ai-generated": "AI generation is both claimed in metadata and seen in the pixels.",
        "ai-generated (claimed)": "Metadata claims AI generation; pixel evidence does not confirm it on its own.",
        "ai-generated (signal)": "Pixel evidence points to AI generation; no metadata claims it.",
        "ai-generated (unverified claim)": "An unverifiable C2PA manifest claims AI generation (unverified claim).",
        "camera (claimed)": "Metadata claims a camera capture; metadata can be forged or stripped.",
        "unknown": "No decisive provenance evidence.",
    }[origin]
    parts = [sent]
    if acc.edits:
        parts.append("Metadata records editing: " + "; ".join(acc.edits[:4]) + ".")
    if edited_signal and acc.manip:
        m = acc.manip
        parts.append(f"Forensic analysis finds a {m.label}" + (f" ({m.where})" if m.where else "")
                     + (f", score {m.score:.2f}" if m.score is not None else "") + ".")
    if acc.unverified and origin != "ai-generated (unverified claim)":
        parts.append("Unverified claims: " + "; ".join(acc.unverified) + ".")
    for p in problems:
        if p.startswith("C2PA signature or credential"):
            parts.append(f"{p}: the signer cannot be verified, so the manifest's claims are unverified, not proof.")
        elif p.startswith("C2PA manifest unreadable"):
            parts.append(f"{p}: nothing in it can be read or counted.")
    if acc.ai and acc.ai.note:
        parts.append(f"P(AI) {acc.ai.probability:.2f}: {acc.ai.note}." if acc.ai.probability is not None else f"{acc.ai.note}.")
    text = " ".join(parts)
    if conflicts:
        text += " Conflict: " + "; ".join(conflicts) + "."
    return text
