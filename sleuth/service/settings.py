"""Service settings: one pydantic model, filled by ``sleuth serve`` flags (or by tests directly).

Every limit the service enforces is a field here, so a deployment states its bounds in one place
and :meth:`ServiceSettings.memory_bound` can state the memory the process tree may reach.
"""
from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..errors import UsageError

MIB = 1024 * 1024


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/sleuth`` or ``~/.local/share/sleuth``.

    Returns
    -------
    pathlib.Path
        The embedded default data directory (reports, maps, keys, indexes).
    """
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "sleuth"


def is_loopback_host(host: str) -> bool:
    """True when ``host`` is a loopback address or ``localhost``.

    Parameters
    ----------
    host : str
        A bind address or host name.

    Returns
    -------
    bool
    """
    if host.strip("[]").lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ServiceSettings(BaseModel):
    """Everything ``sleuth serve`` can be told; defaults are the safe ones."""

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Field(default_factory=default_data_dir)
    no_auth: bool = False
    allowed_hosts: list[str] = Field(default_factory=list, description="Host header values accepted (default: the bind address, plus localhost on loopback).")
    cors_origins: list[str] = Field(default_factory=list, description="Origins allowed by CORS (default none: CORS off).")
    max_request_bytes: int = 64 * MIB
    max_files: int = 16
    max_pixels: int = 50_000_000
    workers: int = 2
    queue_size: int = 8
    quick_workers: int = Field(1, description="Workers kept for quick jobs (fast tier or small files); at most workers - 1.")
    quick_cost: int = Field(2_000_000, description="Job cost (file bytes x 10 for the full tier, x 1 for the fast tier) up to which a job is quick.")
    time_budget_s: float = 60.0
    rate_per_minute: float = 120.0
    rate_burst: int = 30
    retention_days: float = 7.0
    url_fetch: bool = False
    url_max_bytes: int = 32 * MIB
    url_timeout_s: float = 10.0
    scan_options: dict[str, Any] = Field(default_factory=dict, description="Options passed to the pipeline, as the CLI passes them.")
    legacy_api: bool = True

    def check(self) -> None:
        """Refuse unsafe combinations (raises :class:`~sleuth.errors.UsageError`).

        Returns
        -------
        None
        """
        if self.no_auth and not is_loopback_host(self.host):
            raise UsageError(f"--no-auth is refused on the non-loopback bind address {self.host}: "
                             "create a key with `sleuth serve keys create NAME` instead")
        if self.workers < 1 or self.queue_size < 0 or self.max_files < 1:
            raise UsageError("workers must be >= 1, queue size >= 0 and max files >= 1")
        if self.time_budget_s <= 0:
            raise UsageError("the time budget must be positive")

    def hosts(self) -> set[str]:
        """Host header values (without port) this server answers.

        Returns
        -------
        set of str
        """
        if self.allowed_hosts:
            return {h.lower() for h in self.allowed_hosts}
        hosts = {self.host.lower()}
        if is_loopback_host(self.host):
            hosts |= {"localhost", "127.0.0.1", "[::1]", "::1"}
        return hosts

    def memory_bound(self, bytes_per_pixel: int = 40, base: int = 600 * MIB) -> int:
        """The memory (RSS of the server and its workers together) these limits allow.

        ``base`` per process (interpreter, NumPy, OpenCV, ONNX Runtime sessions) plus, per worker,
        the largest image it may decode (``max_pixels`` x ``bytes_per_pixel`` of working arrays)
        plus the request bodies that may be held at once (one per admitted request).

        Parameters
        ----------
        bytes_per_pixel : int
            Working memory per decoded pixel in a worker (RGB, grey, float copies).
        base : int
            Resident size of one process before any image.

        Returns
        -------
        int
            Bytes.
        """
        inflight = self.workers + self.queue_size
        return (base * (1 + self.workers) + self.workers * self.max_pixels * bytes_per_pixel
                + inflight * self.max_request_bytes)
