"""Copy-detection index and watermark routes (same admission, limits and workers as /v1/scan).

Indexes live under ``DATA/indexes/NAME`` (a :class:`sleuth.copydetect.index.CopyIndex`), their
reference files under ``DATA/index-refs/NAME/<sha256>.img``. An index name is 1-64 letters,
digits, ``-`` or ``_``, so it can never name a path outside those folders.
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from ..results import VerifyResult
from .limits import RequestError, safe_name

INDEX_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_MEDIA = {".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp", ".tif": "image/tiff", ".tiff": "image/tiff"}


class IndexEntry(BaseModel):
    id: int
    file: str


class IndexSkip(BaseModel):
    file: str
    reason: str


class IndexAdded(BaseModel):
    """What ``POST /v1/indexes/{name}/images`` did."""

    index: str
    added: list[IndexEntry] = Field(default_factory=list)
    duplicates: list[IndexEntry] = Field(default_factory=list, description="Already in the index (existing id).")
    skipped: list[IndexSkip] = Field(default_factory=list)
    count: int = Field(description="References in the index now.")


class CopyMatch(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    path: str = Field(description="Stored reference file name (not a client path).")
    score: float
    is_copy: bool


class IndexInfo(BaseModel):
    name: str
    references: int | None = None


class SearchResult(BaseModel):
    file: str
    matches: list[CopyMatch]


def index_paths(state, name: str) -> tuple[Path, Path]:
    """(index root, reference folder) of index ``name`` (422 for a name that is not a plain word).

    Parameters
    ----------
    state : object
        App state (``s.data_dir``).
    name : str

    Returns
    -------
    (Path, Path)
    """
    if not INDEX_NAME.match(name or ""):
        raise RequestError(422, f"index name {name[:80]!r} is not allowed: use 1-64 letters, digits, '-' or '_'")
    data = Path(state.s.data_dir)
    return data / "indexes" / name, data / "index-refs" / name


def existing_index(state, name: str) -> Path:
    """The root of an existing index (404 when there is none of that name).

    Parameters
    ----------
    state : object
    name : str

    Returns
    -------
    Path
    """
    root, _ = index_paths(state, name)
    if not root.is_dir():
        raise RequestError(404, f"no index named {name!r} (add images with POST /v1/indexes/{name}/images)")
    return root


def _files_openapi(fields: dict[str, Any] | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}}
    props.update(fields or {})
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "properties": props, "required": ["files"]}}}}}


def _fail(res: dict[str, Any], name: str):
    from .app import _error_response

    return _error_response(res["status"], res["reason"] or "failed",
                           [{"file": name, "status": res["status"], "reason": res["reason"] or "failed"}])


def install_tool_routes(app: FastAPI, state, auth) -> None:
    """Add the index and watermark routes to ``app``.

    Parameters
    ----------
    app : FastAPI
    state : object
        App state.
    auth : callable
        The authentication dependency.

    Returns
    -------
    None
    """
    from .app import ERRORS, admitted, read_uploads, run_job

    @app.post("/v1/indexes/{name}/images", response_model=IndexAdded, responses=ERRORS, tags=["v1 indexes"],
              openapi_extra=_files_openapi())
    async def index_add(name: str, request: Request, key: dict = Depends(auth)):
        """Add reference images to a copy-detection index (created on first use)."""
        root, refs = index_paths(state, name)
        with admitted(state):
            deadline = time.monotonic() + state.s.time_budget_s
            uploads, _ = await read_uploads(request, state)
            refs.mkdir(parents=True, exist_ok=True)
            res = await run_job(state, "index_add", {"root": str(root), "refs": str(refs), "files": uploads,
                                                     "max_pixels": state.s.max_pixels},
                                f"{len(uploads)} file(s)", deadline, cost=sum(len(d) for _, d in uploads) * 10)
        if res["status"] != 200:
            return _fail(res, uploads[0][0])
        return IndexAdded(index=name, added=res["added"], duplicates=res["duplicates"], skipped=res["skipped"],
                          count=res["count"])

    @app.post("/v1/indexes/{name}/search", response_model=list[SearchResult], responses=ERRORS,
              tags=["v1 indexes"], openapi_extra=_files_openapi())
    async def index_search(name: str, request: Request, key: dict = Depends(auth),
                           top_k: int = Query(5, ge=1, le=50)):
        """Closest references to each uploaded image: score, is_copy at the calibrated threshold, regions."""
        root = existing_index(state, name)
        out = []
        with admitted(state):
            deadline = time.monotonic() + state.s.time_budget_s
            uploads, _ = await read_uploads(request, state)
            for fname, data in uploads:
                res = await run_job(state, "index_search", {"root": str(root), "data": data, "name": fname,
                                                            "top_k": top_k, "max_pixels": state.s.max_pixels},
                                    fname, deadline, cost=len(data) * 10)
                if res["status"] != 200:
                    return _fail(res, fname)
                out.append(SearchResult(file=fname, matches=res["matches"]))
        return out

    @app.get("/v1/indexes", response_model=list[IndexInfo], responses=ERRORS, tags=["v1 indexes"])
    def index_list(key: dict = Depends(auth)):
        """Indexes under the data directory, with their reference counts."""
        import sqlite3

        from ..copydetect.index import DB

        base = Path(state.s.data_dir) / "indexes"
        out = []
        for d in sorted(base.iterdir()) if base.is_dir() else []:
            if INDEX_NAME.match(d.name) and (d / DB).exists():
                try:
                    with sqlite3.connect(f"file:{d / DB}?mode=ro", uri=True) as db:
                        n = db.execute("SELECT COUNT(*) FROM images WHERE role='reference'").fetchone()[0]
                except sqlite3.Error:
                    n = None
                out.append(IndexInfo(name=d.name, references=n))
        return out

    @app.get("/v1/indexes/{name}/references/{ref_id}/preview", tags=["v1 indexes"], response_class=Response,
             responses={**ERRORS, 200: {"content": {"image/jpeg": {}}}})
    async def reference_preview(name: str, ref_id: int, key: dict = Depends(auth)):
        """A JPEG preview of a reference (header X-Image-Size: its full size, for drawing matched regions)."""
        root, refs = index_paths(state, name)
        root = existing_index(state, name)
        with admitted(state):
            res = await run_job(state, "reference_preview", {"root": str(root), "refs": str(refs), "ref_id": ref_id},
                                f"reference {ref_id}", time.monotonic() + state.s.time_budget_s, cost=0)
        if res["status"] != 200:
            return _fail(res, f"reference {ref_id}")
        return Response(res["data"], media_type="image/jpeg", headers={
            "X-Image-Size": f"{res['width']}x{res['height']}", "Cache-Control": "private, max-age=3600"})

    _watermark_routes(app, state, auth)


def _watermark_routes(app: FastAPI, state, auth) -> None:
    from .app import ERRORS, admitted, read_uploads, run_job

    key_field = {"key": {"type": "array", "items": {"type": "string"},
                         "description": "Watermark key(s) (default: the server's --key)."}}

    @app.post("/v1/watermark/verify", response_model=list[VerifyResult], responses=ERRORS,
              tags=["v1 watermark"], openapi_extra=_files_openapi(key_field))
    async def watermark_verify(request: Request, key: dict = Depends(auth)):
        """Is sleuth's keyed mark in each image? p-value at the stated FPR, the message when detected."""
        out = []
        with admitted(state):
            deadline = time.monotonic() + state.s.time_budget_s
            uploads, fields = await read_uploads(request, state)
            keys = [k for k in fields.get("key", []) if k] or list(state.s.scan_options.get("watermark_keys") or [])
            if not keys:
                raise RequestError(422, "no watermark key: send one in the form field 'key' (this server has none configured)")
            for fname, data in uploads:
                res = await run_job(state, "watermark_verify", {"data": data, "name": fname, "keys": keys,
                                                                "max_pixels": state.s.max_pixels},
                                    fname, deadline, cost=len(data) * 5)
                if res["status"] != 200:
                    return _fail(res, fname)
                out.append(res["result"])
        return out

    embed_fields = {"key": {"type": "string", "description": "Watermark key."},
                    "message": {"type": "string", "description": "Payload text (UTF-8, at most 8 bytes)."}}

    @app.post("/v1/watermark/embed", responses={**ERRORS, 200: {"content": {"image/png": {}, "image/jpeg": {}}}},
              tags=["v1 watermark"], response_class=Response, openapi_extra=_files_openapi(embed_fields))
    async def watermark_embed(request: Request, key: dict = Depends(auth),
                              strength: float = Query(1.0, ge=0.05, le=8.0)):
        """Embed sleuth's keyed mark in one image; answers the marked image (PSNR/SSIM in headers)."""
        with admitted(state):
            deadline = time.monotonic() + state.s.time_budget_s
            uploads, fields = await read_uploads(request, state)
            if len(uploads) != 1:
                raise RequestError(422, f"send exactly one image to mark, not {len(uploads)}")
            wkey = (fields.get("key") or [""])[0]
            if not wkey:
                raise RequestError(422, "no watermark key: send it in the form field 'key'")
            fname, data = uploads[0]
            res = await run_job(state, "watermark_embed", {
                "data": data, "name": fname, "key": wkey, "message": next(iter(fields.get("message") or []), None),
                "strength": strength, "max_pixels": state.s.max_pixels}, fname, deadline, cost=len(data) * 5)
        if res["status"] != 200:
            return _fail(res, fname)
        out_name = re.sub(r"[^A-Za-z0-9._-]", "_", safe_name(Path(fname).stem))[:100] + "-marked" + res["suffix"]
        return Response(res["data"], media_type=_MEDIA.get(res["suffix"], "application/octet-stream"), headers={
            "Content-Disposition": f'attachment; filename="{out_name}"',
            "X-Sleuth-PSNR": str(res["psnr"]), "X-Sleuth-SSIM": str(res["ssim"])})
