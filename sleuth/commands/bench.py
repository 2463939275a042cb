"""``sleuth bench NAME``: run a benchmark script from the repository's bench/ folder."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer

BENCH_DIR = Path(__file__).resolve().parents[2] / "bench"


def register(app: typer.Typer) -> None:
    @app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def bench(ctx: typer.Context, name: str = typer.Argument(None, help="provenance, copydetect, watermark, aigen or forensics")) -> None:
        """Run bench/NAME.py (extra arguments are passed on); without NAME, list the benchmarks."""
        scripts = sorted(p.stem for p in BENCH_DIR.glob("*.py")) if BENCH_DIR.is_dir() else []
        if not name:
            typer.echo("\n".join(scripts) or "no bench/ folder (benchmarks run from a source checkout)")
            return
        if name not in scripts:
            typer.echo(f"{name}: no such benchmark; available: {', '.join(scripts) or 'none'}", err=True)
            raise typer.Exit(2)
        raise typer.Exit(subprocess.call([sys.executable, str(BENCH_DIR / f"{name}.py"), *ctx.args]))
