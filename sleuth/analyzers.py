"""Analyzer registry: every source of evidence is a function registered by name.

An analyzer takes a :class:`~sleuth.imageio.LoadedImage` and a :class:`ScanContext` and
returns an :class:`~sleuth.report.Evidence`, a list of them, or ``None`` when it does not
apply (for example no watermark key is configured). Analyzers never call each other; the
scan pipeline only composes them. A crash inside one becomes that analyzer's error item.

Tiers: ``fast`` analyzers (metadata, C2PA, known watermarks) read bytes and do little pixel
work; ``full`` adds pixel detectors (AI-generated, forensics, copy, own watermark).

Registering::

    from sleuth.analyzers import register

    @register("exif", kind="provenance", tier="fast")
    def analyze(img, ctx):
        ...
"""
from __future__ import annotations

import importlib
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .imageio import LoadedImage
from .options import ScanOptions, parse_options
from .report import Evidence
from .settings import get_settings

AnalyzerFn = Callable[[LoadedImage, "ScanContext"], "Evidence | list[Evidence] | None"]

#: modules that register analyzers; missing optional ones are skipped
BUILTIN_MODULES = [
    "sleuth.provenance.c2pa",
    "sleuth.provenance.exif",
    "sleuth.provenance.generator",
    "sleuth.watermark.known",
    "sleuth.watermark.evidence",
    "sleuth.detect.evidence",
    "sleuth.forensics.evidence",
    "sleuth.copydetect.evidence",
]


#: what an analyzer's evidence is: a *claim* carried by metadata (can be stripped or forged) or a
#: *signal* read from the pixels themselves. The report summary reads this, never analyzer names.
Role = Literal["claim", "signal"]

#: how an analyzer's verdict bears on the image's origin (read by ``report.summarise``):
#: ``"verdict"``: the verdict, in its kind's documented vocabulary (``report.VERDICTS``), and the
#: standard detail keys (``ai_generated``, ``digital_source_type``, ``make``, ``editors``, ``actions``)
#: say what it implies; ``"ai"``: any positive verdict means AI generation (generator metadata, a
#: generator's invisible mark); ``"none"``: it does not bear on origin (own mark, forensics, copies).
OriginEffect = Literal["verdict", "ai", "none"]


@dataclass
class AnalyzerSpec:
    name: str
    kind: str
    fn: AnalyzerFn
    tier: str = "fast"
    order: int = 100
    description: str = ""
    role: Role = "signal"
    origin_effect: OriginEffect = "verdict"
    #: the analyzer's own version, recorded in every report's audit trail (default: sleuth's version)
    version: str = ""


@dataclass
class ScanContext:
    """Configuration shared by the analyzers of one scan.

    ``options`` is the validated :class:`~sleuth.options.ScanOptions` of the scan (a dict given
    here is validated into one); analyzers read it with ``ctx.get(name)``.
    """

    options: ScanOptions = field(default_factory=ScanOptions)
    #: per-image results shared between analyzers (owned by the pipeline, emptied for every image);
    #: an analyzer that reuses another's work reads it here, never from attributes on the image
    cache: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.options = parse_options(self.options)

    def get(self, key: str, default: Any = None) -> Any:
        """Option ``key`` (a :class:`~sleuth.options.ScanOptions` field), or ``default`` when unset."""
        return self.options.get(key, default)


_REGISTRY: dict[str, AnalyzerSpec] = {}
_LOADED = False


def register(name: str, *, kind: str, tier: str = "fast", order: int = 100, description: str = "",
             role: Role | None = None, origin_effect: OriginEffect | None = None,
             version: str = "") -> Callable[[AnalyzerFn], AnalyzerFn]:
    """Register an analyzer under ``name``.

    Parameters
    ----------
    name : str
        Registry name (``--analyzers`` uses it).
    kind : str
        Evidence kind (provenance, watermark, ai-generated, manipulation, copy).
    tier : {"fast", "full"}
        ``fast`` reads bytes and metadata; ``full`` adds pixel work.
    order : int
        Position in reports (lower first).
    description : str
        One line for ``sleuth scan --help`` and the docs (default: the docstring's first line).
    role : {"claim", "signal"}, optional
        Whether the evidence is a metadata claim or a pixel signal (default: claim for the
        provenance kind, signal otherwise).
    origin_effect : {"verdict", "ai", "none"}, optional
        How a verdict bears on origin (see :data:`OriginEffect`; default: ``"verdict"`` for the
        provenance and ai-generated kinds, ``"none"`` otherwise).
    version : str, optional
        The analyzer's version for the audit trail (default: sleuth's version).

    Returns
    -------
    callable
        A decorator that registers and returns the function unchanged.
    """
    def deco(fn: AnalyzerFn) -> AnalyzerFn:
        _REGISTRY[name] = AnalyzerSpec(name=name, kind=kind, fn=fn, tier=tier, order=order,
                                       description=description or (fn.__doc__ or "").strip().split("\n")[0],
                                       role=role or ("claim" if kind == "provenance" else "signal"),
                                       origin_effect=origin_effect or default_origin_effect(kind), version=version)
        return fn

    return deco


def default_origin_effect(kind: str) -> OriginEffect:
    """The origin effect an analyzer of ``kind`` has unless it declares one."""
    return "verdict" if kind in ("provenance", "ai-generated") else "none"


def load_builtin() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    extra = get_settings().extra_analyzer_modules()
    for mod in BUILTIN_MODULES + extra:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name and (mod == exc.name or mod.startswith(exc.name + ".")):
                continue  # that analyzer module is not part of this build
            raise


def available() -> dict[str, AnalyzerSpec]:
    """Every registered analyzer, built-in modules (and ``SLEUTH_ANALYZER_MODULES``) loaded first.

    Returns
    -------
    dict of str to AnalyzerSpec
        Name -> spec, in report order (``order``, then name).
    """
    load_builtin()
    return dict(sorted(_REGISTRY.items(), key=lambda kv: (kv[1].order, kv[0])))


def select(names: list[str] | None = None, tier: str = "full") -> list[AnalyzerSpec]:
    """The analyzers a scan runs: the ones named, or every analyzer of ``tier``.

    Parameters
    ----------
    names : list of str, optional
        Analyzer names, run in the order given; when empty or None, ``tier`` decides.
    tier : {"fast", "full"}
        ``fast``: the fast analyzers only; ``full``: fast and full ones (ignored when ``names`` is given).

    Returns
    -------
    list of AnalyzerSpec
        The selected specs (by tier: in report order).

    Raises
    ------
    UsageError
        When a name is not registered (the message lists the available ones).
    """
    specs = available()
    if names:
        unknown = [n for n in names if n not in specs]
        if unknown:
            from .errors import UsageError

            raise UsageError(f"unknown analyzer(s) {', '.join(unknown)}; available: {', '.join(specs)}")
        return [specs[n] for n in names]
    tiers = {"fast": {"fast"}, "full": {"fast", "full"}}[tier]
    return [s for s in specs.values() if s.tier in tiers]


def run_analyzer(spec: AnalyzerSpec, img: LoadedImage, ctx: ScanContext) -> list[Evidence]:
    """Run one analyzer on one image; a crash becomes that analyzer's error item, never an exception.

    Parameters
    ----------
    spec : AnalyzerSpec
        The analyzer (from :func:`select` or :func:`available`).
    img : LoadedImage
        The decoded image.
    ctx : ScanContext
        The scan's options and the per-image cache shared between analyzers.

    Returns
    -------
    list of Evidence
        What the analyzer returned, as a list (empty when it does not apply); on an exception, one
        item with ``error`` set and ``verdict`` None (the traceback is printed when ``SLEUTH_DEBUG`` is set).
    """
    try:
        out = spec.fn(img, ctx)
    except Exception as exc:  # one analyzer's crash never stops the others
        msg = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        if get_settings().debug:
            traceback.print_exc()
        return [Evidence(analyzer=spec.name, kind=spec.kind, verdict=None, strength="none",
                         summary=f"analyzer failed: {msg}", error=msg)]
    if out is None:
        return []
    return out if isinstance(out, list) else [out]
