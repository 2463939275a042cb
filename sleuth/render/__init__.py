"""Renderers: the terminal table, JSON / JSON lines, the HTML page, and the one ``emit``.

``emit(reports, fmt, out)`` is the single writer every command uses: ``jsonl`` to stdout streams
one line per report as it arrives (flushed); the other formats collect first. A file or folder
``out`` is written atomically. Non-UTF-8 file names never crash a writer (see :mod:`.text`).
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from enum import StrEnum
from pathlib import Path
from typing import IO

from ..report import Report
from .text import display, json_line


class Format(StrEnum):
    """The one ``--format`` type."""

    table = "table"
    json = "json"
    jsonl = "jsonl"
    html = "html"


DEFAULT_NAMES = {Format.json: "report.json", Format.jsonl: "report.jsonl", Format.html: "report.html",
                 Format.table: "report.txt"}


def _dest(out: Path, fmt: Format) -> Path:
    return out / DEFAULT_NAMES[fmt] if (out.is_dir() or str(out).endswith("/")) else out


def emit(reports: Iterable[Report], fmt: Format | str, out: Path | str | None = None, *, verbose: bool = False,
         stream: IO[str] | None = None, on_report: Callable[[Report], None] | None = None,
         title: str = "sleuth report") -> list[Report]:
    """Write ``reports`` as ``fmt`` to ``out`` (a file, or a folder receiving report.<ext>) or stdout.

    Parameters
    ----------
    reports : iterable of Report
        Consumed once, in order; ``jsonl`` to stdout writes each as it arrives.
    fmt : Format or str
        table, json, jsonl or html.
    out : path, optional
        Destination file or folder; ``None`` writes to ``stream``.
    verbose : bool
        Table only: name quiet analyzers and list every evidence item.
    stream : text stream, optional
        Default ``sys.stdout`` (read at call time).
    on_report : callable, optional
        Called with each report as it arrives (the CLI prints one-line errors here).
    title : str
        HTML page title.

    Returns
    -------
    list of Report
        The reports seen, in order.
    """
    from ..util import atomic_write_text

    fmt = Format(fmt)
    stream = stream or sys.stdout
    seen: list[Report] = []
    live = fmt == Format.jsonl and out is None
    for rep in reports:
        seen.append(rep)
        if on_report:
            on_report(rep)
        if live:
            stream.write(json_line(rep.to_dict()) + "\n")
            stream.flush()
    if live:
        return seen
    if fmt == Format.table and out is None:
        from rich.console import Console

        from .table import render_table

        render_table(seen, console=Console(file=stream) if stream is not sys.stdout else None, verbose=verbose)
        return seen
    text = render(seen, fmt, verbose=verbose, title=title)
    if out is None:
        stream.write(text if text.endswith("\n") else text + "\n")
        stream.flush()
    else:
        dest = _dest(Path(out), fmt)
        atomic_write_text(dest, text)
        sys.stderr.write(display(f"wrote {dest}") + "\n")
    return seen


def render(reports: list[Report], fmt: Format | str, *, verbose: bool = False, title: str = "sleuth report") -> str:
    """The text of ``reports`` in ``fmt`` (the table as plain text, no colour).

    Parameters
    ----------
    reports : list of Report
    fmt : Format or str
    verbose : bool
    title : str

    Returns
    -------
    str
    """
    fmt = Format(fmt)
    if fmt == Format.json:
        return json_line([r.to_dict() for r in reports], indent=2)
    if fmt == Format.jsonl:
        return "".join(json_line(r.to_dict()) + "\n" for r in reports)
    if fmt == Format.html:
        from .html import render_html

        return render_html(reports, title=title)
    import io

    from rich.console import Console

    from .table import render_table

    buf = io.StringIO()
    render_table(reports, console=Console(file=buf, width=120, color_system=None), verbose=verbose)
    return buf.getvalue()


__all__ = ["Format", "emit", "render", "display", "json_line"]
