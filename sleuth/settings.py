"""Process settings: every ``SLEUTH_*`` environment variable is read here, and only here.

Design
------
One pydantic-settings model, :class:`Settings`, read lazily by :func:`get_settings` (never at
import time) and cached per value of the ``SLEUTH_*`` variables, so a changed environment is
seen on the next call. Library modules take settings from
this object, so a reader of the code finds every knob in one place, and the README lists them
(``sleuth settings`` prints the resolved values).

Model paths are the one dynamic family: ``SLEUTH_MODEL_<NAME>`` (for example
``SLEUTH_MODEL_CLIP_VIT_B16``) overrides where model ``<name>`` is read from; they are
collected into :attr:`Settings.model_paths`.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Optional

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every environment setting of sleuth (prefix ``SLEUTH_``)."""

    model_config = SettingsConfigDict(env_prefix="SLEUTH_", extra="ignore")

    cache: Optional[Path] = Field(None, description="Cache folder (models, carriers, heads); default ~/.cache/sleuth.")
    offline: bool = Field(False, description="Never download model weights (CI and air-gapped machines).")
    threads: int = Field(0, ge=0, description="ONNX Runtime intra-op threads for the CLIP encoder (0 = runtime default).")
    ort_threads: int = Field(0, ge=0, description="ONNX Runtime intra-op threads for the copy-detection encoders (0 = default).")
    aigen_head: Optional[Path] = Field(None, description="AI-detector head JSON to use instead of the enrolled/shipped one.")
    index: Optional[Path] = Field(None, description="Default copy-detection index for `sleuth scan`.")
    index_lock_timeout: float = Field(600.0, ge=0, description="Seconds a second index writer waits for the lock (with a visible message).")
    watermark_key: Optional[str] = Field(None, description="Default key for `mark`, `verify` and `scan` (never printed).")
    max_pixels: int = Field(100_000_000, gt=0, description="Largest image accepted, in pixels.")
    max_bytes: int = Field(512 * 1024 * 1024, gt=0, description="Largest input file accepted, in bytes.")
    max_upload: int = Field(64 * 1024 * 1024, gt=0, description="Largest upload the service accepts per file, in bytes.")
    analyzer_modules: str = Field("", description="Comma-separated extra modules that register analyzers.")
    debug: bool = Field(False, description="Print tracebacks of analyzer failures on stderr.")
    data: Optional[Path] = Field(None, description="Benchmark data folder (default ../shared/data beside the checkout).")
    model_paths: dict[str, Path] = Field(default_factory=dict, description="SLEUTH_MODEL_<NAME>: explicit model file per model (key: NAME).")

    def model_path(self, name: str) -> Optional[Path]:
        """Explicit file for model ``name`` from ``SLEUTH_MODEL_<NAME>`` (dashes become underscores)."""
        return self.model_paths.get(name.upper().replace("-", "_"))

    def cache_dir(self) -> Path:
        """The cache folder, defaulting to ``~/.cache/sleuth``."""
        return (self.cache or Path.home() / ".cache" / "sleuth").expanduser()

    def extra_analyzer_modules(self) -> list[str]:
        return [m.strip() for m in self.analyzer_modules.split(",") if m.strip()]


def _model_paths() -> dict[str, Path]:
    pre = "SLEUTH_MODEL_"
    return {k[len(pre):]: Path(v) for k, v in os.environ.items() if k.startswith(pre) and v}


@lru_cache(maxsize=4)
def _read(fingerprint: tuple[tuple[str, str], ...]) -> Settings:
    return Settings(model_paths=_model_paths())


def get_settings() -> Settings:
    """The process's settings, read from the environment.

    Returns
    -------
    Settings
        Cached per value of the ``SLEUTH_*`` variables: a change of the environment (a test's
        monkeypatch, a service reloading) is seen on the next call, without re-validating on
        every call.
    """
    return _read(tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("SLEUTH_"))))


def reload_settings() -> Settings:
    """Forget the cached settings and read the environment again."""
    _read.cache_clear()
    return get_settings()
