"""Helpers shared by every command: one-line errors, exit codes, input expansion."""
from __future__ import annotations

from pathlib import Path

import typer


def err(msg: object) -> None:
    """One line on stderr."""
    typer.echo(" ".join(str(msg).split()), err=True)


def run_or_exit(fn):
    """Call fn(); a UsageError exits 2, another SleuthError exits 1, each as one line on stderr."""
    from ..errors import SleuthError, UsageError

    try:
        return fn()
    except UsageError as exc:
        err(exc)
        raise typer.Exit(2)
    except SleuthError as exc:
        err(exc)
        raise typer.Exit(1)


def expand_inputs(paths: list[Path], recursive: bool, require: bool = True) -> tuple[list[str], list[tuple[str, str]]]:
    """Expand files and folders; report missing inputs and loops on stderr.

    With ``require``, no input at all is a usage error (exit 2).
    """
    from ..imageio import iter_image_paths

    files, problems = iter_image_paths(list(paths), recursive=recursive)
    for p, why in problems:
        err(f"{p}: {why}")
    if require and not files and not problems:
        err("no input files")
        raise typer.Exit(2)
    return files, problems
