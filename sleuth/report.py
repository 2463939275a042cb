"""The report model: one :class:`Report` per input, a list of :class:`Evidence` items.

The JSON shape is a contract (see docs/schemas/scan.schema.json, generated from these pydantic
models by ``sleuth schema``). Names below are never renamed; fields may be added.

* ``Evidence``: analyzer, kind (provenance / watermark / ai-generated / manipulation / copy),
  verdict (a word of the kind's vocabulary, :data:`VERDICTS`), score, p_value, strength
  (strong / moderate / weak / none), a one-sentence summary, structured details. Heatmaps
  travel beside the item in ``maps`` (arrays, never serialised); the pipeline writes them as
  PNG files and records their paths in ``details["maps"]``.
* ``Report``: file facts (path, sha256, format, width, height, bytes), error, evidence, a
  top-level ``summary`` that keeps *claims* (metadata: C2PA, EXIF, generator fields) apart
  from *signals* (pixels: watermarks, detectors, forensics), and the ``audit`` trail (versions,
  model hashes, operating points, options, UTC time) that makes the report reproducible.

Verdict vocabulary
------------------
One spelling per meaning across kinds: ``no-evidence`` = looked and found nothing;
``not-enough-signal`` = looked but the input cannot support a decision; ``skipped`` = does not
apply to this input (e.g. a JPEG-only test on a PNG). The other words per kind are in
:data:`VERDICTS`; :data:`LABELS` gives the words the table, the HTML page and ``detect`` show.
Older spellings (``absent``, ``no-copy``, ``real``, ``ai-generated`` for the detector, a mark or
tool name) are mapped by :func:`normalise_verdict` so a report reads the same either way.

The summary names no analyzer: it reads each analyzer's declared ``role`` (claim / signal) and
``origin_effect`` from the registry (:mod:`sleuth.analyzers`), the normalised verdict and a few
standard detail keys.
"""
from __future__ import annotations

import base64
import hashlib
import io
import platform
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from .util import to_jsonable

Kind = Literal["provenance", "watermark", "ai-generated", "manipulation", "copy", "file"]
Strength = Literal["strong", "moderate", "weak", "none"]

#: kinds whose evidence is a claim carried by metadata (can be stripped or forged); used only when
#: an analyzer is not in the registry (its declared ``role`` wins otherwise)
CLAIM_KINDS = {"provenance"}
#: kinds whose evidence comes from the pixels themselves
SIGNAL_KINDS = {"watermark", "ai-generated", "manipulation", "copy"}

# ----------------------------------------------------------------------------- verdict vocabulary

#: looked and found nothing (the one spelling for every kind)
NOTHING = "no-evidence"
#: provenance: C2PA validation states, or what metadata claims (ai-generated / camera / edited)
ProvenanceVerdict = Literal["no-evidence", "valid", "valid-untrusted", "invalid", "unresolved", "ai-generated",
                            "camera", "edited", "present"]
#: watermark: a known or own mark was detected at the stated FPR
WatermarkVerdict = Literal["detected", "no-evidence", "not-enough-signal"]
#: ai-generated: ``likely-ai`` only at or above the threshold of the stated FPR target; ``uncertain`` in
#: the band the detector states below it; ``no-evidence`` ("no AI signal") below that;
#: ``not-enough-signal`` when the input is outside what the detector is calibrated on
AIVerdict = Literal["likely-ai", "uncertain", "no-evidence", "not-enough-signal"]
#: manipulation: a region inconsistent with the rest, an image-scaling attack, nothing, or not testable
ManipulationVerdict = Literal["manipulated", "scaling-attack", "no-evidence", "not-enough-signal", "skipped"]
#: copy: a near-duplicate of a reference in the index
CopyVerdict = Literal["copy", "no-evidence"]

VERDICTS: dict[str, tuple[str, ...]] = {
    "provenance": get_args(ProvenanceVerdict), "watermark": get_args(WatermarkVerdict),
    "ai-generated": get_args(AIVerdict), "manipulation": get_args(ManipulationVerdict), "copy": get_args(CopyVerdict),
}
#: older spellings still emitted by some analyzers -> the vocabulary
LEGACY: dict[tuple[str, str], str] = {
    ("provenance", "absent"): NOTHING, ("watermark", "absent"): NOTHING, ("watermark", "present"): "detected",
    ("ai-generated", "ai-generated"): "likely-ai", ("ai-generated", "real"): NOTHING,
    ("ai-generated", "no-ai-signal"): NOTHING, ("copy", "no-copy"): NOTHING, ("copy", "absent"): NOTHING,
    ("manipulation", "absent"): NOTHING, ("manipulation", "error"): "not-enough-signal",
}
#: words shown to people (table, HTML, ``detect``), by (kind, verdict)
LABELS: dict[tuple[str, str], str] = {
    ("ai-generated", "likely-ai"): "likely AI", ("ai-generated", "uncertain"): "uncertain",
    ("ai-generated", NOTHING): "no AI signal", ("ai-generated", "not-enough-signal"): "not enough signal",
    ("manipulation", "manipulated"): "manipulated region", ("manipulation", "scaling-attack"): "scaling attack",
    ("manipulation", NOTHING): "no manipulation found", ("copy", "copy"): "copy found", ("copy", NOTHING): "no copy",
    ("watermark", "detected"): "mark detected", ("watermark", NOTHING): "no mark",
    ("provenance", NOTHING): "no metadata", ("provenance", "valid-untrusted"): "valid, signer not trusted",
}
QUIET_VERDICTS = {None, NOTHING, "not-checked", "skipped", "not-enough-signal"}


def normalise_verdict(kind: str, verdict: str | None, origin_effect: str = "verdict") -> str | None:
    """Map an analyzer's verdict to its kind's vocabulary.

    Parameters
    ----------
    kind : str
        Evidence kind.
    verdict : str or None
        The verdict as emitted.
    origin_effect : str
        The analyzer's declared origin effect: a positive verdict of an ``"ai"`` analyzer outside the
        vocabulary (a tool or mark name) becomes ``ai-generated`` / ``detected``.

    Returns
    -------
    str or None
        The vocabulary word (unknown words of test or plug-in analyzers pass through unchanged).
    """
    if verdict is None or verdict in VERDICTS.get(kind, ()):
        return verdict
    if (kind, verdict) in LEGACY:
        return LEGACY[(kind, verdict)]
    if origin_effect == "ai" and kind == "provenance":
        return "ai-generated"
    if origin_effect == "ai" and kind == "watermark":
        return "detected"
    return verdict


def verdict_label(kind: str, verdict: str | None) -> str:
    """The words people see for ``verdict`` of ``kind`` (the same in every output).

    Parameters
    ----------
    kind, verdict : str
        Evidence kind and (normalised or legacy) verdict.

    Returns
    -------
    str
        A short lowercase phrase.
    """
    v = normalise_verdict(kind, verdict)
    if v is None:
        return "-"
    return LABELS.get((kind, v), v.replace("-", " "))


# ----------------------------------------------------------------------------- models


class Evidence(BaseModel):
    model_config = ConfigDict(extra="allow")

    analyzer: str
    kind: Kind
    verdict: str | None = None
    score: float | None = None
    p_value: float | None = None
    strength: Strength = "none"
    summary: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    _maps: dict[str, np.ndarray] = PrivateAttr(default_factory=dict)

    @property
    def maps(self) -> dict[str, np.ndarray]:
        """Heatmaps (HxW float in [0,1], white = suspicious), not serialised."""
        return self._maps

    def with_maps(self, maps: dict[str, np.ndarray]) -> Evidence:
        self._maps.update(maps)
        return self


class AISummary(BaseModel):
    """The pixel detector's reading, with its operating point."""

    probability: float | None = None
    threshold: float | None = None
    fpr: float | None = Field(None, description="false-positive rate on real photos at the threshold")
    verdict: str | None = Field(None, description="AIVerdict")
    label: str = ""
    family: str | None = None
    note: str | None = Field(None, description="reliability note (e.g. not a photograph)")


class ManipulationSummary(BaseModel):
    score: float | None = None
    verdict: str | None = None
    label: str = ""
    where: str | None = Field(None, description="where the map is hot, in words")
    analyzers: list[str] = Field(default_factory=list, description="analyzers that fired")


Headline = Literal["not analysed", "AI-generated", "edited", "camera photo", "no evidence", "unverified claims"]
Tone = Literal["error", "ai", "edited", "clean", "info"]


class Summary(BaseModel):
    origin: str = "unknown"
    claims: list[str] = Field(default_factory=list)
    signals: list[str] = Field(default_factory=list)
    conflicts: list[str] = Field(default_factory=list)
    text: str = ""
    headline: Headline = Field("no evidence", description="short verdict words shown first in every output")
    tone: Tone = "info"
    basis: list[Literal["claim", "signal"]] = Field(default_factory=list, description="what the headline rests on")
    ai: AISummary | None = None
    manipulation: ManipulationSummary | None = None
    copies: int | None = Field(None, description="references matched as copies (None: no index given)")
    own_mark: str | None = Field(None, description="own watermark verdict (None: no key given)")
    marks: list[str] = Field(default_factory=list, description="known generator marks found in the pixels")
    edits: list[str] = Field(default_factory=list, description="edit history claimed by metadata")
    unverified_claims: list[str] = Field(default_factory=list)
    c2pa_problems: list[str] = Field(default_factory=list, description="C2PA failure classes with raw codes")
    quiet: list[str] = Field(default_factory=list, description="analyzers that found nothing")
    failed: list[str] = Field(default_factory=list, description="analyzers that failed on this input")
    because: list[str] = Field(default_factory=list, description="the evidence the headline rests on")


class ModelFile(BaseModel):
    name: str
    file: str | None = None
    sha256: str | None = None


class AnalyzerAudit(BaseModel):
    version: str
    kind: str
    role: str
    origin_effect: str
    operating_point: dict[str, Any] = Field(default_factory=dict)


class Audit(BaseModel):
    """What produced the report: enough to reproduce it."""

    sleuth_version: str
    python: str
    libraries: dict[str, str] = Field(default_factory=dict)
    models: list[ModelFile] = Field(default_factory=list)
    analyzers: dict[str, AnalyzerAudit] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)
    timestamp: str = Field("", description="UTC, ISO 8601 (the only field that differs between two runs)")


class Report(BaseModel):
    model_config = ConfigDict(extra="allow")

    path: str
    #: the path's exact bytes in hex when they are not valid UTF-8 (``path`` then shows U+FFFD)
    path_bytes_hex: str | None = None
    sha256: str | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    bytes: int | None = None
    error: str | None = None
    notes: list[str] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    summary: Summary = Field(default_factory=Summary)
    audit: Audit | None = None
    _thumbnail: np.ndarray | None = PrivateAttr(default=None)

    def model_post_init(self, __context: Any) -> None:
        if self.error and self.summary.headline == "no evidence":  # a failed file never reads "no evidence"
            self.summary = Summary(text=f"not analysed: {self.error}", headline="not analysed", tone="error")

    def get(self, analyzer: str) -> Evidence | None:
        return next((e for e in self.evidence if e.analyzer == analyzer), None)

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self.model_dump(mode="json"))


# ----------------------------------------------------------------------------- summary

from .summary import summarise  # noqa: E402  (the summary logic lives beside, it needs the models)

# ----------------------------------------------------------------------------- audit trail

_HASHES: dict[tuple[str, int, int], str] = {}
_HASH_LOCK = threading.Lock()
LIBRARIES = ("numpy", "pillow", "opencv-python-headless", "onnxruntime", "scikit-image", "scikit-learn", "scipy",
             "c2pa-python", "pydantic", "faiss-cpu", "rich")


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, computed once per process (cached by path, size and mtime).

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    str
        Hex digest.
    """
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    with _HASH_LOCK:
        if key not in _HASHES:
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            _HASHES[key] = h.hexdigest()
        return _HASHES[key]


@lru_cache(maxsize=1)
def _library_versions() -> tuple[tuple[str, str], ...]:
    return tuple(_read_versions().items())


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that shape the results (read once per process)."""
    return dict(_library_versions())


def _read_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def model_files() -> list[ModelFile]:
    """Every registered model and shipped detector head with its resolved file and sha256.

    Resolved and hashed once per process (a model installed later shows up in a new process).
    """
    return [m.model_copy() for m in _model_files()]


@lru_cache(maxsize=1)
def _model_files() -> tuple[ModelFile, ...]:
    from .errors import ModelNotFoundError
    from .models import MODELS, resolve

    rows = []
    for name in MODELS:
        try:
            p = resolve(name, download=False)
        except ModelNotFoundError:
            rows.append(ModelFile(name=name))
            continue
        rows.append(ModelFile(name=name, file=p.name, sha256=file_sha256(p)))
    data = Path(__file__).resolve().parent / "data"
    for f in sorted(data.rglob("*")):
        if f.is_file() and f.suffix in (".json", ".npz", ".onnx"):
            rows.append(ModelFile(name=f"data/{f.relative_to(data).as_posix()}", file=f.name, sha256=file_sha256(f)))
    return tuple(rows)


_SECRET_WORDS = ("key", "secret", "token", "password")
OP_KEYS = ("threshold", "fpr_target", "target_fpr", "fpr", "band", "band_edges", "uncertain_below", "p_threshold")


def redact_options(options: dict[str, Any]) -> dict[str, Any]:
    """Options as recorded in the audit: secrets (watermark keys) replaced by a short hash."""
    out: dict[str, Any] = {}
    for k in sorted(options):
        v = options[k]
        if v in (None, [], {}, ""):
            continue
        if any(w in k.lower() for w in _SECRET_WORDS) and not isinstance(v, int):
            vals = v if isinstance(v, (list, tuple)) else [v]
            v = [f"sha256:{hashlib.sha256(str(x).encode('utf-8', 'surrogateescape')).hexdigest()[:12]}" for x in vals]
        out[k] = to_jsonable(v)
    return out


def operating_point(ev: Evidence) -> dict[str, Any]:
    """The decision constants an evidence item states (thresholds, FPR targets)."""
    d = ev.details or {}
    return {k: d[k] for k in OP_KEYS if k in d and isinstance(d[k], (int, float, str, list))}


def audit(specs: list[Any], options: dict[str, Any], evidence: list[Evidence] | None = None,
          timestamp: str | None = None) -> Audit:
    """The audit trail of one report.

    Parameters
    ----------
    specs : list of AnalyzerSpec
        The analyzers selected for the scan.
    options : dict
        The scan options (secrets are redacted).
    evidence : list of Evidence, optional
        The report's evidence, read for each analyzer's operating point.
    timestamp : str, optional
        UTC ISO-8601 time (default: now).

    Returns
    -------
    Audit
    """
    import datetime as _dt

    from . import __version__

    ops: dict[str, dict[str, Any]] = {}
    for e in evidence or []:
        ops.setdefault(e.analyzer, {}).update(operating_point(e))
    an = {s.name: AnalyzerAudit(version=s.version or __version__, kind=s.kind, role=s.role,
                                origin_effect=getattr(s, "origin_effect", "verdict"), operating_point=ops.get(s.name, {}))
          for s in specs}
    ts = timestamp or _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return Audit(sleuth_version=__version__, python=f"{platform.python_implementation()} {platform.python_version()}",
                 libraries=library_versions(), models=model_files(), analyzers=an, options=redact_options(options),
                 timestamp=ts)


def _strip_timings(obj: Any) -> Any:
    """Drop wall-clock ``seconds`` from details: timings differ run to run, a report must not."""
    if isinstance(obj, dict):
        obj.pop("seconds", None)
        for v in obj.values():
            _strip_timings(v)
    elif isinstance(obj, list):
        for v in obj:
            _strip_timings(v)
    return obj


def finalise(report: Report, specs: list[Any], options: dict[str, Any]) -> Report:
    """Summarise ``report`` and attach its audit trail (called by the pipeline for every report).

    Parameters
    ----------
    report : Report
        The report with its evidence.
    specs : list of AnalyzerSpec
        The analyzers that were selected.
    options : dict
        The scan options.

    Returns
    -------
    Report
        The same report, with ``summary`` and ``audit`` set.
    """
    for e in report.evidence:
        _strip_timings(e.details)
    report.summary = summarise(report)
    report.audit = audit(specs, options, report.evidence)
    return report


# ----------------------------------------------------------------------------- images for the renderers


def thumbnail(rgb: np.ndarray, max_side: int = 768) -> np.ndarray:
    """Downscale ``rgb`` so its longer side is at most ``max_side`` (the HTML report's base image)."""
    import cv2

    scale = min(1.0, max_side / max(rgb.shape[:2]))
    if scale < 1:
        rgb = cv2.resize(rgb, (max(1, int(rgb.shape[1] * scale)), max(1, int(rgb.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    return rgb


def heatmap_rgba(heat: np.ndarray, max_side: int = 512) -> np.ndarray:
    """Colour a [0,1] heatmap (white = suspicious) as an RGBA overlay (transparent where 0)."""
    import cv2

    h: np.ndarray = np.clip(np.nan_to_num(heat.astype(np.float32)), 0, 1)
    scale = min(1.0, max_side / max(h.shape))
    if scale < 1:
        h = cv2.resize(h, (max(1, int(h.shape[1] * scale)), max(1, int(h.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    col = cv2.applyColorMap((h * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[..., ::-1]
    a = (np.clip(h * 1.5, 0, 1) * 230).astype(np.uint8)
    return np.dstack([col, a])


def data_uri(arr: np.ndarray, fmt: str = "PNG") -> str:
    """Encode an image array as a ``data:`` URI (PNG or JPEG)."""
    from PIL import Image

    buf = io.BytesIO()
    if fmt == "JPEG":
        Image.fromarray(arr).save(buf, "JPEG", quality=82)
    else:
        Image.fromarray(arr).save(buf, "PNG", optimize=True)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


# thin re-exports: the renderers live in sleuth.render

def render_table(reports: list[Report], console: Any | None = None, verbose: bool = False) -> None:
    """Print the verdict table (see :func:`sleuth.render.table.render_table`)."""
    from .render.table import render_table as _rt

    _rt(reports, console=console, verbose=verbose)


def render_html(reports: list[Report], title: str = "sleuth report") -> str:
    """The self-contained HTML page (see :func:`sleuth.render.html.render_html`)."""
    from .render.html import render_html as _rh

    return _rh(reports, title=title)
