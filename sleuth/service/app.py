"""HTTP service: the scan pipeline behind FastAPI, with a small web page.

Endpoints
---------
* ``GET /`` - upload page (plain HTML + fetch; no build step, no external assets).
* ``POST /api/scan`` - multipart ``files`` (one or more); returns the same JSON list as
  ``sleuth scan --format json``. Query: ``analyzers`` (comma list), ``fast`` (bool).
* ``POST /api/scan/html`` - same input, returns the self-contained HTML report with heatmaps.
* ``GET /api/analyzers`` - registered analyzers. ``GET /healthz``.

Uploads are bounded (``SLEUTH_MAX_UPLOAD`` bytes, default 64 MiB each); an oversize or
undecodable file gives a per-file error entry (the other files are still analysed), never a
500. Analysis runs in a worker thread so the event loop stays responsive.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI, File, HTTPException, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse

from .. import __version__
from ..analyzers import available, select
from ..errors import UsageError
from ..pipeline import scan
from ..report import Report, render_html, summarise

MAX_UPLOAD = int(os.environ.get("SLEUTH_MAX_UPLOAD", 64 * 1024 * 1024))
STATIC = Path(__file__).parent / "static"


def create_app(options: dict[str, Any] | None = None) -> FastAPI:
    """Build the app. ``options`` are the scan options (trust_list, index, watermark_keys...)."""
    opts = dict(options or {})
    app = FastAPI(title="sleuth", version=__version__,
                  description="Image forensics and provenance: calibrated, explainable evidence.")

    def _parse(analyzers: str | None, fast: bool) -> tuple[list[str] | None, str]:
        names = [a.strip() for a in analyzers.split(",") if a.strip()] if analyzers else None
        tier = "fast" if fast else "full"
        try:
            select(names, tier=tier)
        except UsageError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        return names, tier

    async def _scan_uploads(files: list[UploadFile], names, tier, keep_maps: bool) -> list[Report]:
        reports = []
        for f in files:
            name = f.filename or "upload"
            data = await f.read(MAX_UPLOAD + 1)
            if len(data) > MAX_UPLOAD:
                rep = Report(path=name, error=f"{name}: upload is over the {MAX_UPLOAD}-byte limit")
                rep.summary = summarise(rep)
                reports.append(rep)
                continue
            rep = await run_in_threadpool(_scan_bytes, data, name, names, tier, opts, keep_maps)
            reports.append(rep)
        return reports

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.get("/api/analyzers")
    def list_analyzers() -> list[dict[str, str]]:
        return [{"name": s.name, "kind": s.kind, "tier": s.tier, "description": s.description}
                for s in available().values()]

    @app.post("/api/scan")
    async def api_scan(files: list[UploadFile] = File(...), analyzers: str | None = Query(None),
                       fast: bool = Query(False)) -> JSONResponse:
        names, tier = _parse(analyzers, fast)
        reports = await _scan_uploads(files, names, tier, keep_maps=False)
        return JSONResponse([r.to_dict() for r in reports])

    @app.post("/api/scan/html", response_class=HTMLResponse)
    async def api_scan_html(files: list[UploadFile] = File(...), analyzers: str | None = Query(None),
                            fast: bool = Query(False)) -> HTMLResponse:
        names, tier = _parse(analyzers, fast)
        reports = await _scan_uploads(files, names, tier, keep_maps=True)
        return HTMLResponse(render_html(reports))

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    return app


def _scan_bytes(data: bytes, name: str, names, tier, opts, keep_maps) -> Report:
    rep = scan(data, names, tier=tier, options=opts, keep_maps=keep_maps)
    # the loader names byte inputs "<bytes>": report the uploaded file name instead
    if rep.error:
        rep.error = rep.error.replace("<bytes>", name, 1)
    rep.path = name
    return rep
