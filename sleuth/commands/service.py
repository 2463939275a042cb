"""``sleuth serve``: the HTTP API and web page; ``sleuth serve keys create/list/revoke``."""
from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Optional

import typer

from ._common import err

DATA_HELP = "Data directory: reports, maps, keys, indexes (default ~/.local/share/sleuth)."


def _data(data: Optional[Path]) -> Path:
    from ..service.settings import default_data_dir

    return data or default_data_dir()


def _when(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if ts else "-"


def register(app: typer.Typer) -> None:
    serve_app = typer.Typer(help="Run the HTTP API and web page; manage API keys.", invoke_without_command=True,
                            no_args_is_help=False)
    keys_app = typer.Typer(help="API keys (stored hashed under --data).", no_args_is_help=True)
    serve_app.add_typer(keys_app, name="keys")
    app.add_typer(serve_app, name="serve")

    @serve_app.callback()
    def serve(
        ctx: typer.Context,
        host: str = typer.Option("127.0.0.1", help="Bind address."),
        port: int = typer.Option(8000, help="Port."),
        data: Optional[Path] = typer.Option(None, "--data", envvar="SLEUTH_DATA_DIR", help=DATA_HELP),
        no_auth: bool = typer.Option(False, "--no-auth", help="No API keys (refused unless bound to loopback)."),
        allowed_host: Optional[list[str]] = typer.Option(None, "--allowed-host", help="Accepted Host header (repeat; default: the bind address)."),
        cors_origin: Optional[list[str]] = typer.Option(None, "--cors-origin", help="Allow this origin by CORS (repeat; default: CORS off)."),
        workers: int = typer.Option(2, help="Scan worker processes."),
        queue: int = typer.Option(8, help="Requests that may wait for a worker (more get 503)."),
        quick_workers: int = typer.Option(1, help="Workers kept for quick jobs (fast tier, small files)."),
        time_budget: float = typer.Option(60.0, help="Seconds per request, then its scan is stopped."),
        max_request_mb: float = typer.Option(64.0, help="Request body limit in MiB."),
        max_files: int = typer.Option(16, help="Files per request."),
        max_pixels: int = typer.Option(50_000_000, help="Pixels per image."),
        rate: float = typer.Option(120.0, help="Requests per minute per key (0: no limit)."),
        retention_days: float = typer.Option(7.0, help="Days a stored report is kept."),
        url_fetch: bool = typer.Option(False, "--url-fetch", help="Allow scanning by URL (public addresses only)."),
        trust_list: Optional[Path] = typer.Option(None, "--trust-list", help="PEM bundle of trusted C2PA signers."),
        index: Optional[Path] = typer.Option(None, "--index", envvar="SLEUTH_INDEX", help="Copy-detection index."),
        key: Optional[list[str]] = typer.Option(None, "--key", envvar="SLEUTH_WATERMARK_KEY", help="Watermark key(s)."),
    ) -> None:
        """Serve the API (/v1, docs at /docs) and the web page at http://HOST:PORT/."""
        if ctx.invoked_subcommand is not None:
            return
        import uvicorn

        from ..errors import UsageError
        from ..service import create_app
        from ..service.settings import MIB, ServiceSettings

        opts = {"trust_list": str(trust_list) if trust_list else None, "index": str(index) if index else None,
                "watermark_keys": list(key or [])}
        settings = ServiceSettings(
            host=host, port=port, data_dir=_data(data), no_auth=no_auth, allowed_hosts=list(allowed_host or []),
            cors_origins=list(cors_origin or []), workers=workers, queue_size=queue, quick_workers=quick_workers, time_budget_s=time_budget,
            max_request_bytes=int(max_request_mb * MIB), max_files=max_files, max_pixels=max_pixels,
            rate_per_minute=rate, rate_burst=max(1, int(rate / 4)) if rate else 1, retention_days=retention_days,
            url_fetch=url_fetch, scan_options=opts)
        try:
            application = create_app(settings)
        except UsageError as exc:
            err(exc)
            raise typer.Exit(2) from exc
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        if not no_auth and not any(k["revoked"] is None for k in application.state.sleuth.store.list_keys()):
            err("no API key yet: create one with `sleuth serve keys create NAME` (the page asks for it), "
                "or run with --no-auth on this loopback address")
        err(f"sleuth serve on http://{host}:{port}/ (data {settings.data_dir}; auth "
            f"{'OFF' if no_auth else 'on'}; {workers} workers)")
        uvicorn.run(application, host=host, port=port, log_level="info", server_header=False)

    @keys_app.command("create")
    def keys_create(name: str = typer.Argument(..., help="Who the key is for."),
                    data: Optional[Path] = typer.Option(None, "--data", envvar="SLEUTH_DATA_DIR", help=DATA_HELP)) -> None:
        """Create a key; it is printed once, alone on the last line of stdout (only its hash is stored)."""
        from ..service.store import Store

        try:
            kid, secret = Store(_data(data)).create_key(name)
        except ValueError as exc:
            err(f"{name!r}: {exc}")
            raise typer.Exit(2) from exc
        typer.echo(f"created key {kid} for {name!r}; it is shown only now, store it safely:")
        typer.echo(secret)

    @keys_app.command("list")
    def keys_list(data: Optional[Path] = typer.Option(None, "--data", envvar="SLEUTH_DATA_DIR", help=DATA_HELP)) -> None:
        """List keys (id, name, prefix, created, revoked, last used); never the keys themselves."""
        from ..service.store import Store

        for k in Store(_data(data)).list_keys():
            state = f"revoked {_when(k['revoked'])}" if k["revoked"] else "active"
            typer.echo(f"{k['id']:>4}  {k['name']:<24} {k['prefix']}...  created {_when(k['created'])}  {state}")

    @keys_app.command("revoke")
    def keys_revoke(ident: str = typer.Argument(..., help="Key id or name."),
                    data: Optional[Path] = typer.Option(None, "--data", envvar="SLEUTH_DATA_DIR", help=DATA_HELP)) -> None:
        """Revoke a key by id or name (takes effect on the next request)."""
        from ..service.store import Store

        n = Store(_data(data)).revoke_key(ident)
        if not n:
            err(f"{ident}: no active key with this id or name")
            raise typer.Exit(1)
        typer.echo(f"revoked {n} key(s)")
