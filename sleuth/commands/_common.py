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


def expand_inputs(paths: list[Path], recursive: bool, require: bool = True, follow_links: bool = False,
                  skipped: list[tuple[str, str]] | None = None) -> tuple[list[str], list[tuple[str, str]]]:
    """Expand files and folders; report problems (and links left out) on stderr, one line each.

    Problems (missing inputs, FIFOs, devices, sockets, dangling links, loops) are returned and
    make the command exit 1. Entries skipped on purpose (hidden names, sub-folders without
    ``-r``, links leaving the folder without ``--follow-links``) are appended to ``skipped``
    so the caller can count them in its summary line; links are also named on stderr.
    With ``require``, no input at all is a usage error (exit 2).
    """
    from ..imageio import walk_inputs

    res = walk_inputs(list(paths), recursive=recursive, follow_links=follow_links)
    for p, why in res.problems:
        err(f"{p}: {why}")
    for p, why in res.skipped:
        if "symbolic link" in why:
            err(f"{p}: {why}")
    if skipped is not None:
        skipped.extend(res.skipped)
    if require and not res.files and not res.problems:
        err("no input files" + (f" ({len(res.skipped)} entries skipped)" if res.skipped else ""))
        raise typer.Exit(2)
    return res.files, res.problems


def summary_line(n_files: int, failed: int, problems: int, skipped: list[tuple[str, str]]) -> str:
    """``N analysed, F failed, P not read, S skipped (k hidden, ...)``: every input counted."""
    kinds: dict[str, int] = {}
    for _, why in skipped:
        k = "hidden" if why.startswith("hidden") else "sub-folders (no -r)" if why.startswith("folder") else \
            "links outside the folder"
        kinds[k] = kinds.get(k, 0) + 1
    detail = f" ({', '.join(f'{v} {k}' for k, v in kinds.items())})" if kinds else ""
    return (f"sleuth: {n_files - failed} file(s) analysed, {failed} failed, {problems} not read, "
            f"{len(skipped)} skipped{detail}")
