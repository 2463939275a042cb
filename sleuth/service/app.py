"""HTTP service: the scan pipeline behind FastAPI, safe to expose, with a web page at ``/``.

Routes (all documented by ``/openapi.json``; Swagger UI at ``/docs`` and ReDoc at ``/redoc``
are served from local files, so they work offline):

* ``POST /v1/scan`` (``/v1/detect``, ``/v1/forensics``): multipart field ``files`` (one or more),
  optional ``urls`` fields when URL fetch is on; query ``analyzers`` (comma list) and ``fast``.
  Answers the list of stored reports, each with its ``id`` and ``links``.
* ``GET /v1/reports/{id}``, ``GET /v1/reports/{id}/maps/{name}``: a stored report and its heatmaps.
* ``GET /v1/analyzers``; ``GET /info`` (limits, whether a key is needed; outside /v1, no key).
* ``GET /healthz`` (the process answers), ``GET /readyz`` (workers and database), ``GET /metrics``.
* ``POST /api/scan`` and ``/api/scan/html``: the v0.1 routes, deprecated; same checks as /v1.

Safety: every /v1 route needs ``Authorization: Bearer <key>`` unless the server runs with
``--no-auth`` (loopback only). Requests are refused before their body is read when the Host
header is not an allowed one (400), when the queue is full (503 + Retry-After) or the key is over
its rate (429 + Retry-After); the body is counted while it streams (413 past the limit, never
spooled to disk). Files are decoded and analysed only in the worker processes
(:mod:`sleuth.service.workers`), killed at the request's time budget.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import time
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles

from .. import __version__
from ..analyzers import available, select
from ..errors import UsageError
from .limits import RateLimiter, RequestError, parse_multipart, read_body, retry_after, safe_name, sniff_image
from .metrics import Metrics
from .models import AnalyzerInfo, ErrorBody, Health, Ready, ServerInfo, StoredReport
from .settings import ServiceSettings
from .store import Store
from .workers import BudgetExceeded, WorkerDied, WorkerPool

log = logging.getLogger("sleuth.service")
STATIC = Path(__file__).parent / "static"
#: per-file limit of the deprecated /api/scan route (v0.1 behaviour: a per-file error, answer 200)
MAX_UPLOAD = 64 * 1024 * 1024
ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorBody} for s in (400, 401, 404, 413, 415, 422, 429, 503)}
_bearer = HTTPBearer(auto_error=False, description="An API key from `sleuth serve keys create NAME`.")


def create_app(settings: ServiceSettings | None = None, *, options: dict[str, Any] | None = None,
               start_method: str = "forkserver", worker_env: dict[str, str] | None = None) -> FastAPI:
    """Build the service app.

    Parameters
    ----------
    settings : ServiceSettings, optional
        Limits, data directory, auth (default: :class:`ServiceSettings` defaults).
    options : dict, optional
        Pipeline options (trust_list, index, watermark_keys...), merged over ``settings.scan_options``.
    start_method : str
        multiprocessing start method of the worker pool.
    worker_env : dict, optional
        Environment variables set in every worker.

    Returns
    -------
    fastapi.FastAPI
    """
    s = settings or ServiceSettings()
    if options:
        s = s.model_copy(update={"scan_options": {**s.scan_options, **options}})
    s.check()
    state = _State(s, start_method, worker_env)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await state.start()
        try:
            yield
        finally:
            state.close()

    app = FastAPI(title="sleuth", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Image forensics and provenance: calibrated, explainable evidence. "
                              "Send `Authorization: Bearer <key>` to every /v1 route.")
    app.state.sleuth = state
    _install_middleware(app, state)
    _install_errors(app)
    _routes_meta(app, state)
    _routes_v1(app, state)
    _routes_legacy(app, state)
    from .tools import install_tool_routes

    install_tool_routes(app, state, _authenticate(state))
    return app


class _State:
    """What the routes share: settings, store, pool, limiter, metrics, admission counter."""

    def __init__(self, s: ServiceSettings, start_method: str, worker_env: dict[str, str] | None):
        self.s = s
        self.store = Store(s.data_dir)
        self.pool = WorkerPool(s.workers, start_method=start_method, env=worker_env, reserve=s.quick_workers,
                               small_cost=s.quick_cost)
        self.limiter = RateLimiter(s.rate_per_minute, s.rate_burst)
        self.metrics = Metrics(self)
        self.inflight = 0
        #: keyword arguments for :func:`sleuth.service.fetch.fetch_url` (tests inject a resolver)
        self.fetch_overrides: dict[str, Any] = {}
        self._purger: asyncio.Task | None = None

    async def start(self) -> None:
        if self.s.no_auth:
            log.warning("!!! sleuth serve is running WITHOUT AUTHENTICATION (--no-auth) on %s: "
                        "anyone who can reach this address can use it !!!", self.s.host)
        await self.pool.start()
        self.store.purge()
        self._purger = asyncio.ensure_future(self._purge_loop())

    async def _purge_loop(self) -> None:
        while True:
            await asyncio.sleep(3600)
            await asyncio.get_running_loop().run_in_executor(None, self.store.purge)

    def close(self) -> None:
        if self._purger:
            self._purger.cancel()
        self.pool.close()

    def admit(self) -> None:
        cap = self.s.workers + self.s.queue_size
        if self.inflight >= cap:
            self.metrics.rejected.labels(reason="queue-full").inc()
            raise RequestError(503, f"the server is busy ({self.inflight} requests in progress for "
                                    f"{self.s.workers} workers); retry shortly",
                               headers={"Retry-After": retry_after(max(1.0, self.s.time_budget_s / 10))})
        self.inflight += 1


# --------------------------------------------------------------------------- middleware, errors

def _error_response(status: int, reason: str, files: list[dict] | None = None,
                    headers: dict[str, str] | None = None, reports: list[dict] | None = None) -> JSONResponse:
    body = {"error": reason, "status": status, "files": files or [], "reports": reports or []}
    return JSONResponse(body, status_code=status, headers=headers)


def _install_middleware(app: FastAPI, state: _State) -> None:
    hosts = state.s.hosts()
    if state.s.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=state.s.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])

    @app.middleware("http")
    async def guard(request: Request, call_next):
        t0 = time.perf_counter()
        host = (request.headers.get("host") or "").lower()
        name = host[1:].split("]")[0] if host.startswith("[") else host.rsplit(":", 1)[0]
        if name not in hosts and host not in hosts and f"[{name}]" not in hosts:
            resp = _error_response(400, f"Host header {host[:100]!r} is not one this server answers to "
                                        "(start it with --allowed-host NAME)")
        else:
            resp = await call_next(request)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        route = request.scope.get("route")
        state.metrics.observe(getattr(route, "path", "unmatched"), request.method, resp.status_code,
                              time.perf_counter() - t0)
        return resp


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(RequestError)
    async def on_request_error(request: Request, exc: RequestError):
        return _error_response(exc.status, exc.reason, exc.files, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError):
        parts = [f"{'.'.join(str(x) for x in e.get('loc', ())[1:]) or 'request'}: {e.get('msg', 'invalid')}"
                 for e in exc.errors()[:5]]
        return _error_response(422, "invalid request: " + "; ".join(parts))

    @app.exception_handler(UsageError)
    async def on_usage_error(request: Request, exc: UsageError):
        return _error_response(422, str(exc))


def _authenticate(state: _State):
    async def auth(request: Request, cred: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> dict:
        if state.s.no_auth:
            who = {"id": None, "name": "anonymous"}
            bucket = f"addr:{request.client.host if request.client else '?'}"
        else:
            rec = state.store.check_key(cred.credentials) if cred and cred.scheme.lower() == "bearer" else None
            if rec is None:
                state.metrics.rejected.labels(reason="auth").inc()
                raise RequestError(401, "missing or wrong API key: send 'Authorization: Bearer <key>' "
                                        "(the operator creates keys with `sleuth serve keys create NAME`)",
                                   headers={"WWW-Authenticate": "Bearer"})
            who, bucket = rec, f"key:{rec['id']}"
        wait = state.limiter.take(bucket)
        if wait:
            state.metrics.rejected.labels(reason="rate").inc()
            raise RequestError(429, f"rate limit of {state.s.rate_per_minute:g} requests per minute reached; "
                                    f"retry in {retry_after(wait)} s", headers={"Retry-After": retry_after(wait)})
        request.state.key = who
        return who

    return auth


# --------------------------------------------------------------------------- routes

def _routes_meta(app: FastAPI, state: _State) -> None:
    try:
        import swagger_ui_bundle

        app.mount("/static/swagger", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger")
        swagger = True
    except ImportError:  # pragma: no cover - the dependency is declared
        swagger = False
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/healthz", response_model=Health, tags=["operations"])
    def healthz() -> Health:
        """The process answers (it never waits for a worker)."""
        return Health(status="ok", version=__version__)

    @app.get("/readyz", response_model=Ready, tags=["operations"], responses={503: {"model": Ready}})
    def readyz():
        """Ready when every worker runs and the database takes writes."""
        r = Ready(ready=False, workers=state.s.workers, workers_alive=state.pool.alive(),
                  queue_depth=state.pool.waiting, database=state.store.writable())
        r.ready = r.database and r.workers_alive == r.workers
        return JSONResponse(r.model_dump(), status_code=200 if r.ready else 503)

    @app.get("/metrics", tags=["operations"], response_class=Response)
    def metrics() -> Response:
        """Prometheus metrics: requests, latencies, queue depth, per-analyzer time."""
        return state.metrics.render()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"), headers={
            "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; "
                                       "style-src 'self'; connect-src 'self'; frame-ancestors 'none'"})

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        if not swagger:  # pragma: no cover
            return HTMLResponse("Swagger UI is not installed (pip install swagger-ui-bundle); see /redoc", 404)
        return get_swagger_ui_html(openapi_url="/openapi.json", title="sleuth API",
                                   swagger_js_url="/static/swagger/swagger-ui-bundle.js",
                                   swagger_css_url="/static/swagger/swagger-ui.css",
                                   swagger_favicon_url="/static/swagger/favicon-32x32.png")

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title="sleuth API",
                              redoc_js_url="/static/vendor/redoc/redoc.standalone.js",
                              redoc_favicon_url="/static/swagger/favicon-32x32.png", with_google_fonts=False)

    @app.get("/info", response_model=ServerInfo, tags=["operations"])
    def info() -> ServerInfo:
        """Limits and whether a key is needed (no key needed for this route)."""
        s = state.s
        return ServerInfo(version=__version__, auth=not s.no_auth, url_fetch=s.url_fetch,
                          max_request_bytes=s.max_request_bytes, max_files=s.max_files,
                          max_pixels=s.max_pixels, time_budget_s=s.time_budget_s)


def _scan_openapi(extra: str = "") -> dict[str, Any]:
    props: dict[str, Any] = {"files": {"type": "array", "items": {"type": "string", "format": "binary"},
                                       "description": "One or more image files." + extra}}
    props["urls"] = {"type": "array", "items": {"type": "string"},
                     "description": "Image URLs to fetch (only when the server runs with --url-fetch)."}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "properties": props}}}}}


def _names(analyzers: str | None, fast: bool, kind: str | None) -> tuple[list[str] | None, str]:
    tier = "fast" if fast else "full"
    names = [a.strip() for a in analyzers.split(",") if a.strip()] if analyzers else None
    if names is None and kind:
        names = [sp.name for sp in select(None, tier=tier) if sp.kind == kind]
        if not names:
            raise RequestError(422, f"no {kind} analyzer in the {tier} tier")
    select(names, tier=tier)  # UsageError -> 422 naming the unknown analyzers
    return names, tier


def _legacy_names(analyzers: str | None, fast: bool) -> tuple[list[str] | None, str]:
    """v0.1 answered an unknown analyzer with 400; its deprecated routes still do."""
    try:
        return _names(analyzers, fast, None)
    except UsageError as exc:
        raise RequestError(400, str(exc)) from None


def _routes_v1(app: FastAPI, state: _State) -> None:
    auth = _authenticate(state)

    def add_scan_route(path: str, kind: str | None, summary: str) -> None:
        @app.post(path, response_model=list[StoredReport], responses=ERRORS, tags=["v1"], summary=summary,
                  openapi_extra=_scan_openapi())
        async def scan_route(request: Request, key: dict = Depends(auth),
                             analyzers: str | None = Query(None, description="Comma-separated analyzer names."),
                             fast: bool = Query(False, description="Only the fast tier (metadata, C2PA, known marks)."),
                             index: str | None = Query(None, description="Copy-detection index (a name under /v1/indexes) to match against.")):
            names, tier = _names(analyzers, fast, kind)
            opts = None
            if index:
                from .tools import existing_index

                opts = {"index": str(existing_index(state, index))}
            return await _scan_request(request, state, key, names, tier, options=opts)

    add_scan_route("/v1/scan", None, "Scan images: every analyzer of the tier")
    add_scan_route("/v1/detect", "ai-generated", "AI-generation detection only")
    add_scan_route("/v1/forensics", "manipulation", "Manipulation forensics only (heatmaps)")

    @app.get("/v1/reports/{report_id}", response_model=StoredReport, responses=ERRORS, tags=["v1"])
    def get_report(report_id: str, key: dict = Depends(auth)):
        """A stored report (no rescan); 404 when unknown or expired."""
        rep = state.store.get_report(report_id)
        if rep is None:
            return _error_response(404, f"no report {report_id[:40]!r} (unknown or expired)")
        return rep

    @app.get("/v1/reports/{report_id}/maps/{name}", responses={**ERRORS, 200: {"content": {"image/png": {}}}},
             tags=["v1"], response_class=Response)
    def get_map(report_id: str, name: str, key: dict = Depends(auth)):
        """A heatmap PNG (8-bit grey, white = suspicious) or the ``preview`` JPEG of a stored report."""
        got = state.store.get_map(report_id, name)
        if got is None:
            return _error_response(404, f"no map {name[:80]!r} for report {report_id[:40]!r}")
        return Response(got[1], media_type=got[0], headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/v1/analyzers", response_model=list[AnalyzerInfo], responses=ERRORS, tags=["v1"])
    def list_analyzers(key: dict = Depends(auth)):
        """Registered analyzers."""
        return [AnalyzerInfo(name=sp.name, kind=sp.kind, tier=sp.tier, role=sp.role, description=sp.description)
                for sp in available().values()]


def _routes_legacy(app: FastAPI, state: _State) -> None:
    if not state.s.legacy_api:
        return
    auth = _authenticate(state)

    @app.get("/api/analyzers", deprecated=True, tags=["v0.1 (deprecated)"])
    def legacy_analyzers() -> list[dict[str, str]]:
        """Deprecated: use GET /v1/analyzers."""
        return [{"name": sp.name, "kind": sp.kind, "tier": sp.tier, "description": sp.description}
                for sp in available().values()]

    @app.post("/api/scan", deprecated=True, tags=["v0.1 (deprecated)"], responses=ERRORS,
              openapi_extra=_scan_openapi(" Deprecated: use POST /v1/scan."))
    async def legacy_scan(request: Request, key: dict = Depends(auth), analyzers: str | None = Query(None),
                          fast: bool = Query(False)) -> JSONResponse:
        """Deprecated v0.1 route: the report list, per-file errors inside the reports (status 200)."""
        names, tier = _legacy_names(analyzers, fast)
        reps = await _scan_request(request, state, key, names, tier, legacy=True)
        return JSONResponse(reps, headers={"Deprecation": "true", "Link": '</v1/scan>; rel="successor-version"'})

    @app.post("/api/scan/html", deprecated=True, tags=["v0.1 (deprecated)"], response_class=HTMLResponse,
              openapi_extra=_scan_openapi(" Deprecated: use the page at /."))
    async def legacy_scan_html(request: Request, key: dict = Depends(auth), analyzers: str | None = Query(None),
                               fast: bool = Query(False)) -> HTMLResponse:
        """Deprecated v0.1 route: the self-contained HTML report."""
        from .render import legacy_html

        names, tier = _legacy_names(analyzers, fast)
        reps = await _scan_request(request, state, key, names, tier, legacy=True)
        return HTMLResponse(legacy_html(reps, state.store))


# --------------------------------------------------------------------------- the scan itself

async def _scan_request(request: Request, state: _State, key: dict, names: list[str] | None, tier: str,
                        legacy: bool = False, options: dict[str, Any] | None = None):
    """Admit, read, check, scan on the pool, store; answer reports or a per-file 4xx."""
    with admitted(state):
        deadline = time.monotonic() + state.s.time_budget_s
        uploads, _ = await read_uploads(request, state, check=not legacy)
        results = await asyncio.gather(*[_run_one(state, n, d, names, tier, deadline, legacy, options)
                                         for n, d in uploads])
    return await _finish(state, key, uploads, results, legacy)


@contextmanager
def admitted(state: _State):
    """Hold one admission slot (503 + Retry-After when none is free).

    Parameters
    ----------
    state : _State

    Returns
    -------
    context manager
    """
    state.admit()
    try:
        yield
    finally:
        state.inflight -= 1


async def read_uploads(request: Request, state: _State, check: bool = True,
                       ) -> tuple[list[tuple[str, bytes]], dict[str, list[str]]]:
    """Read and parse the multipart body: ``(uploads, text fields)``; refuse empty or non-image files.

    Parameters
    ----------
    request : Request
    state : _State
    check : bool
        Refuse empty and non-image uploads with per-file reasons (the v0.1 routes do not).

    Returns
    -------
    (list of (name, bytes), dict of field name -> values)
    """
    body = await read_body(request, state.s.max_request_bytes)
    parts = parse_multipart(request.headers.get("content-type"), body, state.s.max_files + 8)
    del body
    uploads = [(safe_name(p.filename, f"upload-{i + 1}"), bytes(p.data)) for i, p in enumerate(parts)
               if p.name == "files"]
    fields: dict[str, list[str]] = {}
    for p in parts:
        if p.name != "files" and p.filename is None and len(p.data) <= 4096:
            fields.setdefault(p.name, []).append(p.data.decode("utf-8", "replace").strip())
    del parts
    urls = [u for u in fields.pop("urls", []) if u]
    if urls:
        uploads += await _fetch_all(state, urls)
    if not uploads:
        raise RequestError(422, "no files: send one or more images in the multipart field 'files'")
    if len(uploads) > state.s.max_files:
        raise RequestError(413, f"{len(uploads)} files in one request; this server takes at most {state.s.max_files}")
    problems = _precheck(uploads) if check else []
    if problems:
        raise RequestError(_combined_status(problems), _problem_text(problems), files=problems)
    return uploads, fields


async def run_job(state: _State, job: str, kwargs: dict[str, Any], name: str, deadline: float,
                  cost: float) -> dict[str, Any]:
    """Run one worker job; the time budget and a dead worker become per-file 422 answers.

    Parameters
    ----------
    state : _State
    job : str
        Name in :data:`sleuth.service.jobs.JOBS`.
    kwargs : dict
    name : str
        The file's display name (for the reason).
    deadline : float
        ``time.monotonic()`` deadline.
    cost : float
        Scheduling cost (cheapest waiting job first).

    Returns
    -------
    dict
    """
    try:
        res = await state.pool.run(job, kwargs, deadline, cost=cost)
    except BudgetExceeded:
        res = {"status": 422, "reason": f"{name}: analysis did not finish within this server's "
                                        f"{state.s.time_budget_s:g} s time budget (stopped)"}
    except WorkerDied:
        res = {"status": 422, "reason": f"{name}: the worker analysing it died (out of memory?)"}
    state.metrics.files.labels(status=str(res["status"])).inc()
    return res


async def _finish(state: _State, key: dict, uploads, results, legacy: bool):
    loop = asyncio.get_running_loop()
    stored, problems, legacy_out = [], [], []
    for (name, _), res in zip(uploads, results, strict=False):
        if res.get("report") is not None and (res["status"] == 200 or legacy):
            rep = await loop.run_in_executor(None, _store, state, res, key)
            stored.append(rep)
            legacy_out.append(rep)
        else:
            problems.append({"file": name, "status": res["status"], "reason": res["reason"] or "not analysed"})
            legacy_out.append(_legacy_error(name, res["reason"] or "not analysed"))
    if legacy:
        return legacy_out
    if problems:
        return _error_response(_combined_status(problems), _problem_text(problems), problems, reports=stored)
    return stored


def _store(state: _State, res: dict, key: dict) -> dict:
    import uuid

    rep = res["report"]
    for e in rep.get("evidence", []):
        if e.get("kind") == "copy" and isinstance(e.get("details"), dict):
            _public_copy_details(state, e["details"])
            rep = _scrub(rep, state)
    opts = (rep.get("audit") or {}).get("options") or {}
    for k in ("index", "trust_list", "maps_dir", "aigen_head"):  # server paths never leave the server
        if opts.get(k):
            opts[k] = Path(str(opts[k])).name if k == "index" else "(server file)"
    rid = uuid.uuid4().hex
    maps = res.get("maps") or {}
    base = f"/v1/reports/{rid}"
    rep["links"] = {"self": base, **{("preview" if n == "preview" else f"maps.{n}"): f"{base}/maps/{n}" for n in maps}}
    state.store.save_report(rep, maps, state.s.retention_days * 86400, key.get("id"), report_id=rid)
    for an, sec in (res.get("timings") or {}).items():
        state.metrics.analyzer.labels(analyzer=an).observe(sec)
    return rep


async def _run_one(state: _State, name: str, data: bytes, names, tier, deadline: float, legacy: bool,
                   options: dict[str, Any] | None = None) -> dict:
    if legacy and len(data) > MAX_UPLOAD:
        return {"status": 413, "reason": f"{name}: upload is over the {MAX_UPLOAD}-byte limit"}
    kwargs = {"data": data, "name": name, "analyzers": names, "tier": tier,
              "options": {**state.s.scan_options, **(options or {})}, "max_pixels": state.s.max_pixels}
    return await run_job(state, "scan", kwargs, name, deadline, cost=len(data) * (1 if tier == "fast" else 10))


def _public_copy_details(state: _State, d: dict) -> None:
    """Server paths out of copy evidence: the index by name (when it is one of ours), references by file name."""
    idx = Path(str(d.get("index") or ""))
    ours = idx.parent == Path(state.s.data_dir) / "indexes"
    d["index"] = idx.name if ours else "(server index)"
    d["index_name"] = idx.name if ours else None
    for m in d.get("matches") or []:
        if isinstance(m, dict) and m.get("path"):
            m["path"] = Path(str(m["path"])).name


def _scrub(obj: Any, state: _State) -> Any:
    """Remove this server's reference-folder paths from every string of a report."""
    import re

    bases = {str(Path(state.s.data_dir) / "index-refs"), str((Path(state.s.data_dir) / "index-refs").resolve())}
    pat = re.compile("|".join(re.escape(b) + r"/[A-Za-z0-9_-]+/" for b in bases))

    def walk(x):
        if isinstance(x, str):
            return pat.sub("", x)
        if isinstance(x, list):
            return [walk(v) for v in x]
        if isinstance(x, dict):
            return {k: walk(v) for k, v in x.items()}
        return x

    return walk(obj)


def _legacy_error(name: str, reason: str) -> dict:
    from ..report import Report, summarise

    rep = Report(path=name, error=reason)
    rep.summary = summarise(rep)
    return rep.to_dict()


def _precheck(uploads: list[tuple[str, bytes]]) -> list[dict]:
    problems = []
    for name, data in uploads:
        if not data:
            problems.append({"file": name, "status": 422, "reason": f"{name}: empty file (0 bytes)"})
        elif sniff_image(data) is None:
            problems.append({"file": name, "status": 415, "reason": f"{name}: not an image this server decodes "
                             "(JPEG, PNG, WebP, GIF, TIFF, BMP, HEIF/AVIF, JPEG 2000/XL)"})
    return problems


def _combined_status(problems: list[dict]) -> int:
    codes = {p["status"] for p in problems}
    return codes.pop() if len(codes) == 1 else (413 if 413 in codes else 422)


def _problem_text(problems: list[dict]) -> str:
    n = len(problems)
    return f"{n} file{'s' if n > 1 else ''} not analysed: " + "; ".join(p["reason"] for p in problems[:5])


async def _fetch_all(state: _State, urls: list[str]) -> list[tuple[str, bytes]]:
    if not state.s.url_fetch:
        raise RequestError(422, "this server does not fetch URLs (start it with --url-fetch); upload the files instead")
    from urllib.parse import urlsplit

    from .fetch import fetch_url

    loop = asyncio.get_running_loop()
    out: list[tuple[str, bytes]] = []
    for u in urls[: state.s.max_files + 1]:
        fetch = functools.partial(fetch_url, u, max_bytes=state.s.url_max_bytes, timeout=state.s.url_timeout_s,
                                  **state.fetch_overrides)
        data = await loop.run_in_executor(None, fetch)
        out.append((safe_name(urlsplit(u).path.rsplit("/", 1)[-1], "url"), data))
    return out
