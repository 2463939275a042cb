"""Response models of the HTTP API (the report itself is :class:`sleuth.report.Report`)."""
from __future__ import annotations

from pydantic import BaseModel, Field

from ..report import Report


class StoredReport(Report):
    """A report as the service stores and returns it: the CLI's report plus its id and links."""

    id: str = Field(description="Report id (32 hex digits); GET /v1/reports/{id} returns it again, no rescan.")
    links: dict[str, str] = Field(default_factory=dict, description="self: this report; maps.<name>: heatmap PNGs; preview: a JPEG preview.")


class FileProblem(BaseModel):
    """Why one uploaded file was not analysed."""

    file: str
    status: int
    reason: str


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer: a sentence, the status, and per-file reasons where files were involved."""

    error: str
    status: int
    files: list[FileProblem] = Field(default_factory=list)
    reports: list[StoredReport] = Field(default_factory=list, description="Reports of the files of the same request that were analysed and stored.")


class Health(BaseModel):
    status: str
    version: str


class Ready(BaseModel):
    ready: bool
    workers: int
    workers_alive: int
    queue_depth: int
    database: bool


class AnalyzerInfo(BaseModel):
    name: str
    kind: str
    tier: str
    role: str
    description: str


class ServerInfo(BaseModel):
    """What the web page needs to know before the first upload (no key needed)."""

    version: str
    auth: bool
    url_fetch: bool
    max_request_bytes: int
    max_files: int
    max_pixels: int
    time_budget_s: float
