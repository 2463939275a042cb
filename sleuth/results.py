"""Typed results of every command, built from the one scan pipeline's reports.

Design
------
``detect``, ``forensics``, ``verify`` and ``search`` are *selections of analyzers* run by
:func:`sleuth.pipeline.scan_many`; each has a result model here and a builder that reads the
:class:`~sleuth.report.Report` (never the analyzers' internals), so the CLI, the service and
the cluster engine produce the same JSON for the same image. ``mark``, ``index add``,
``dedup`` and ``replication`` are not analyses of one image but still answer with a model
from this module. Every model's JSON schema is published under ``docs/schemas/`` (generated
by ``sleuth schema --all docs/schemas``; a test checks the committed files are current).

Models allow extra fields (``extra="allow"``): analyzers may add details without breaking
the contract; named fields are never renamed.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field

from .report import Report


class _Row(BaseModel):
    model_config = ConfigDict(extra="allow")


# ----------------------------------------------------------------------------- detect

class DetectResult(_Row):
    """One image's AI-generation answer (``sleuth detect``)."""

    path: str
    error: Optional[str] = None
    probability: Optional[float] = None
    is_ai: Optional[bool] = None
    verdict: Optional[str] = None
    fpr_target: Optional[float] = None
    threshold: Optional[float] = None
    detectors: dict[str, float] = Field(default_factory=dict)
    fired: list[str] = Field(default_factory=list)
    family: Optional[str] = None
    family_probability: Optional[float] = None
    family_similarity: Optional[dict[str, float]] = None
    reliability: dict[str, Any] = Field(default_factory=dict, description="level, flags and the facts behind them")
    reliability_flags: list[str] = Field(default_factory=list)
    band: Optional[str] = Field(None, description="likely-ai, uncertain, no-ai-signal or not-enough-signal (docs/detect.md)")
    maps: dict[str, str] = Field(default_factory=dict)


DETECT_ANALYZERS = ["ai-generated"]


def _failure(rep: Report, analyzer: str) -> Optional[str]:
    if rep.error:
        return rep.error
    ev = rep.get(analyzer)
    if ev is None:
        return f"{rep.path}: analyzer {analyzer} did not run"
    if ev.error:
        return f"{rep.path}: {analyzer} failed: {ev.error}"
    return None


def detect_result(rep: Report) -> DetectResult:
    """Build the ``detect`` row of one report.

    Parameters
    ----------
    rep : Report
        A report of a scan that ran the ``ai-generated`` analyzer.

    Returns
    -------
    DetectResult
    """
    error = _failure(rep, "ai-generated")
    if error:
        return DetectResult(path=rep.path, error=error)
    ev = rep.get("ai-generated")
    assert ev is not None
    from .report import verdict_label

    d = {k: v for k, v in ev.details.items() if k != "maps"}
    if "reliability_facts" in d:  # scan evidence lists the flags; the detect row keeps the v0.1 dict
        d["reliability_flags"] = d.pop("reliability")
        d["reliability"] = d.pop("reliability_facts")
    d.setdefault("verdict", ev.verdict)
    d.setdefault("label", verdict_label("ai-generated", ev.verdict))  # the words scan, JSON and HTML use
    return DetectResult(path=rep.path, maps=dict(ev.details.get("maps") or {}), **d)


# ----------------------------------------------------------------------------- forensics

class ForensicAnalyzerResult(_Row):
    verdict: Optional[str] = None
    score: Optional[float] = None
    reason: Optional[str] = None
    raw_score: Optional[float] = None
    seconds: Optional[float] = None


class ForensicsResult(_Row):
    """One image's manipulation answer (``sleuth forensics``)."""

    path: str
    error: Optional[str] = None
    score: Optional[float] = None
    verdict: Optional[str] = None
    maps: dict[str, str] = Field(default_factory=dict, description="analyzer (or 'fused') -> heatmap PNG")
    scaling_attack: Optional[dict[str, Any]] = None
    analyzers: dict[str, ForensicAnalyzerResult] = Field(default_factory=dict)


def forensic_analyzers() -> list[str]:
    """Names of the forensic analyzers and their fusion, in report order."""
    from .analyzers import select

    return [s.name for s in select(None, tier="full") if s.kind == "manipulation"]


def forensics_result(rep: Report) -> ForensicsResult:
    """Build the ``forensics`` row of one report (a scan of :func:`forensic_analyzers`)."""
    error = _failure(rep, "manipulation")
    if error:
        return ForensicsResult(path=rep.path, error=error)
    fused = rep.get("manipulation")
    assert fused is not None
    row = ForensicsResult(path=rep.path, score=fused.score, verdict=fused.verdict,
                          scaling_attack=fused.details.get("scaling_attack"))
    for ev in rep.evidence:
        if ev.kind != "manipulation":
            continue
        paths = ev.details.get("maps") or {}
        if ev.analyzer == "manipulation":
            if "fused" in paths:
                row.maps["fused"] = paths["fused"]
            continue
        row.analyzers[ev.analyzer] = ForensicAnalyzerResult(
            verdict=ev.verdict, score=ev.score, reason=ev.details.get("reason") or (ev.summary if ev.verdict != "no-evidence" else None),
            raw_score=ev.details.get("raw_score"), seconds=ev.details.get("seconds"))
        if paths:
            row.maps[ev.analyzer] = next(iter(paths.values()))
    return row


# ----------------------------------------------------------------------------- verify

class VerifyResult(_Row):
    """Is the key's mark present in one image (``sleuth verify``)."""

    path: str
    error: Optional[str] = None
    detected: bool = False
    p_value: Optional[float] = None
    message: Optional[str] = None
    method: Optional[str] = None
    message_hex: Optional[str] = None
    bit_errors_corrected: Optional[int] = None
    key_index: Optional[int] = None
    score: Optional[float] = None
    fpr: Optional[float] = None


VERIFY_ANALYZERS = ["watermark"]


def verify_result(rep: Report) -> VerifyResult:
    """Build the ``verify`` row of one report (a scan of the ``watermark`` analyzer)."""
    error = _failure(rep, "watermark")
    if error:
        return VerifyResult(path=rep.path, error=error)
    ev = rep.get("watermark")
    assert ev is not None
    return VerifyResult(path=rep.path, detected=ev.verdict == "detected", p_value=ev.p_value, **ev.details)


# ----------------------------------------------------------------------------- search

class SearchResult(_Row):
    """The references one query is a copy of (``sleuth search``)."""

    query: str
    error: Optional[str] = None
    matches: list[dict[str, Any]] = Field(default_factory=list)


SEARCH_ANALYZERS = ["copy"]


def search_result(rep: Report, copies_only: bool = False) -> SearchResult:
    """Build the ``search`` row of one report (a scan of the ``copy`` analyzer)."""
    error = _failure(rep, "copy")
    if error:
        return SearchResult(query=rep.path, error=error)
    ev = rep.get("copy")
    assert ev is not None
    ms = [m for m in ev.details.get("matches", []) if m.get("is_copy") or not copies_only]
    return SearchResult(query=rep.path, matches=ms)


# ----------------------------------------------------------------------------- other commands

class MarkResult(_Row):
    """One marked image (``sleuth mark``)."""

    path: str
    out: Optional[str] = None
    method: Optional[str] = None
    psnr: Optional[float] = None
    ssim: Optional[float] = None
    error: Optional[str] = None


class IndexAddResult(_Row):
    """What ``sleuth index add`` did."""

    index: str
    added: list[dict[str, Any]] = Field(default_factory=list)
    skipped: list[dict[str, Any]] = Field(default_factory=list)
    duplicates: list[dict[str, Any]] = Field(default_factory=list)
    stats: dict[str, Any] = Field(default_factory=dict)


class IndexRemoveResult(_Row):
    index: str
    removed: list[int] = Field(default_factory=list)
    not_found: list[int] = Field(default_factory=list)


class ReplicationResult(_Row):
    """Closest reference per generated image and the set's replication ratio (``sleuth replication``)."""

    index: str
    images: list[dict[str, Any]] = Field(default_factory=list)
    n_images: int = 0
    n_copies: int = 0
    replication_ratio: Optional[float] = None
    ci95: list[Optional[float]] = Field(default_factory=list)
    decision_threshold: Optional[float] = None
    errors: list[dict[str, Any]] = Field(default_factory=list)


#: command name -> (JSON document type) for ``sleuth schema --all``
SCHEMAS: dict[str, Any] = {
    "scan": list[Report],
    "detect": list[DetectResult],
    "forensics": list[ForensicsResult],
    "verify": list[VerifyResult],
    "search": list[SearchResult],
    "mark": list[MarkResult],
    "index-add": IndexAddResult,
    "index-remove": IndexRemoveResult,
    "dedup": list[list[str]],
    "replication": ReplicationResult,
}

#: command name -> builder from a Report (commands that are selections of analyzers)
BUILDERS: dict[str, Callable[..., BaseModel]] = {
    "detect": detect_result, "forensics": forensics_result, "verify": verify_result, "search": search_result,
}


def schema_of(name: str) -> dict[str, Any]:
    """JSON schema of command ``name``'s ``--format json`` document."""
    from pydantic import TypeAdapter

    return TypeAdapter(SCHEMAS[name]).json_schema()


def write_schemas(folder: Path) -> list[Path]:
    """Write every command's schema as ``<folder>/<name>.schema.json`` (atomically)."""
    import json

    from .util import atomic_write_text

    out = []
    for name in SCHEMAS:
        dest = Path(folder) / f"{name}.schema.json"
        atomic_write_text(dest, json.dumps(schema_of(name), indent=2, sort_keys=True) + "\n")
        out.append(dest)
    return out
