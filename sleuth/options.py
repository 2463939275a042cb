"""Typed scan options: everything an analyzer may be told, validated once.

Design
------
:class:`ScanOptions` is the one contract between the front ends (CLI commands, the service,
the cluster engine, benchmarks) and the analyzers. It is a pydantic model with
``extra="forbid"``, so a misspelt or unknown option is a :class:`~sleuth.errors.UsageError`
naming the key, not a silently ignored dict entry. Analyzers read it through
``ScanContext.get(name)`` (attribute access by name, default when unset), which keeps the
analyzers independent of where an option came from.

Names are ``<analyzer>_<thing>`` where an option belongs to one analyzer (``watermark_fpr``,
``known_watermark_fpr``, ``copy_top_k``): the v0.1 dict had a bare ``fpr`` that meant the
known-watermark FPR and collided in readers' minds with ``watermark_fpr``; it is accepted as an
alias of ``known_watermark_fpr`` for callers of the Python API.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import UsageError


class ScanOptions(BaseModel):
    """Options of one scan, shared by every analyzer of that scan."""

    model_config = ConfigDict(extra="forbid", frozen=False)

    # provenance
    trust_list: Optional[Path] = Field(None, description="PEM bundle of trusted C2PA signers.")
    c2pa_fetch_remote: bool = Field(False, description="Fetch remote C2PA manifests over the network.")
    # watermarks
    watermark_keys: list[str] = Field(default_factory=list, description="Keys of sleuth's own mark to look for (never reported).")
    watermark_method: str = Field("sleuth", description="Own-mark method: sleuth, dwtDct, dwtDctSvd, rivaGan or trustmark.")
    watermark_fpr: float = Field(1e-6, gt=0, le=1, description="False-positive rate of the own-mark 'present' decision.")
    watermark_bits: Literal[64, 128] = Field(64, description="Payload length sleuth's own mark was embedded with (64 or 128 bits).")
    known_watermark_fpr: float = Field(1e-6, gt=0, le=1, description="False-positive rate of the known-mark (SD/SDXL) decision.")
    known_watermark_trustmark_model: Optional[Path] = Field(None, description="TrustMark decoder ONNX file (default: the user's cache).")
    # AI-generated detection
    aigen_head: Optional[Path] = Field(None, description="Detector head JSON (default: enrolled user head, else shipped).")
    # forensics
    scaling_sizes: Optional[list[tuple[int, int]]] = Field(None, description="Model input sizes (h, w) to check for scaling attacks.")
    dense_copy_move_enabled: bool = Field(False, description="Also run the dense-field copy-move analyzer (slower; off by default).")
    # copy detection
    index: Optional[Path] = Field(None, description="Copy-detection index to match against.")
    copy_top_k: int = Field(3, ge=1, description="Matches kept per image.")
    copy_verify: bool = Field(True, description="Verify candidates with local features (SIFT + RANSAC).")
    # limits (see docs/limits.md)
    time_budget: Optional[float] = Field(None, ge=0, description="Seconds one file may take before its worker is stopped (default 5 fast, 30 full, or 0.6 / 3 per megapixel when larger; a value given is flat; 0 = none).")
    worker_max_rss: Optional[int] = Field(None, ge=0, description="Bytes of resident memory a worker may reach before it is stopped (default 4 GiB; 0 = none).")
    # files
    max_pixels: Optional[int] = Field(None, gt=0, description="Refuse images above this many pixels (default: settings).")
    maps_dir: Optional[Path] = Field(None, description="Write heatmap PNGs here.")

    @field_validator("watermark_keys", mode="before")
    @classmethod
    def _keys(cls, v: Any) -> Any:
        if v is None:
            return []
        return [v] if isinstance(v, str) else [k for k in v if k]

    def get(self, key: str, default: Any = None) -> Any:
        """Value of option ``key``, or ``default`` when it is unset (None).

        Parameters
        ----------
        key : str
            Option name.
        default : Any
            Returned when the option is None or not a field of this model.

        Returns
        -------
        Any
        """
        v = getattr(self, key, None)
        return default if v is None else v

    def public(self) -> dict[str, Any]:
        """The options as recorded in a report's audit trail: keys are counted, never shown."""
        d = self.model_dump(mode="json")
        d["watermark_keys"] = len(self.watermark_keys)
        return d


_ALIASES = {"fpr": "known_watermark_fpr"}


def parse_options(options: ScanOptions | dict[str, Any] | None = None, **overrides: Any) -> ScanOptions:
    """Validate scan options given as a model, a dict or keywords.

    Parameters
    ----------
    options : ScanOptions or dict, optional
        Base options; a dict may use the v0.1 alias ``fpr`` for ``known_watermark_fpr``.
        Keys whose value is None are left at their defaults.
    **overrides
        Individual options that replace those in ``options``.

    Returns
    -------
    ScanOptions

    Raises
    ------
    UsageError
        One line naming every unknown or invalid option.
    """
    if isinstance(options, ScanOptions) and not overrides:
        return options
    raw = options.model_dump() if isinstance(options, ScanOptions) else dict(options or {})
    raw.update(overrides)
    raw = {_ALIASES.get(k, k): v for k, v in raw.items() if v is not None}
    try:
        return ScanOptions(**raw)
    except ValidationError as exc:
        parts = []
        for e in exc.errors():
            loc = ".".join(str(x) for x in e["loc"]) or "options"
            parts.append(f"{loc}: {'unknown option' if e['type'] == 'extra_forbidden' else e['msg']}")
        raise UsageError("invalid scan options: " + "; ".join(parts)) from None


Tier = Literal["fast", "full"]
