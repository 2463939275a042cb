"""``sleuth serve``: run the HTTP service and web page."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: str = typer.Option("127.0.0.1", help="Bind address."),
        port: int = typer.Option(8000, help="Port."),
        trust_list: Optional[Path] = typer.Option(None, "--trust-list", help="PEM bundle of trusted C2PA signers."),
        index: Optional[Path] = typer.Option(None, "--index", envvar="SLEUTH_INDEX", help="Copy-detection index."),
        key: Optional[list[str]] = typer.Option(None, "--key", envvar="SLEUTH_WATERMARK_KEY", help="Watermark key(s)."),
    ) -> None:
        """Serve the scan API (POST /api/scan) and a web page at http://HOST:PORT/."""
        import uvicorn

        from ..service import create_app

        opts = {"trust_list": str(trust_list) if trust_list else None, "index": str(index) if index else None,
                "watermark_keys": list(key or [])}
        uvicorn.run(create_app(opts), host=host, port=port, log_level="info")
