"""What every command shares: one ``--format`` type, one emit function, one way to run the pipeline.

Design
------
Commands only parse arguments and render. :func:`analyse` runs
:func:`sleuth.pipeline.scan_many` on the expanded inputs with typed
:class:`~sleuth.options.ScanOptions` and reports every failure as one stderr line;
:func:`emit` writes a command's rows as a table, JSON, JSONL or HTML (atomically with
``--out``). Exit codes everywhere: 0 every input analysed, 1 some failed (the rest still
reported), 2 usage error.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NoReturn, Optional

import typer

from ..render import Format  # noqa: E402  (the one --format type)

FORMAT_HELP = "Output: table (for people), json (one document), jsonl (one object per line, streamed) or html (a self-contained page)."


def format_option(default: Format = Format.table) -> Any:
    """The ``--format/-f`` option, the same in every command."""
    return typer.Option(default, "--format", "-f", help=FORMAT_HELP)


def out_option(help_: str = "Write the output to this file (or folder) atomically instead of stdout.") -> Any:
    return typer.Option(None, "--out", "-o", help=help_)


def progress_iter(items: Any, description: str, show: bool = True) -> Iterator[Any]:
    """Iterate with a progress bar on stderr when it is a terminal (see :mod:`sleuth.render.progress`)."""
    from ..render.progress import progress, wanted

    seq = list(items)
    with progress(len(seq), description, show and wanted()) as advance:
        for it in seq:
            yield it
            advance()


def err(msg: object) -> None:
    """One line on stderr (undecodable bytes of file names shown as U+FFFD, never a crash)."""
    from ..render.progress import log
    from ..render.text import display

    log(display(" ".join(str(msg).split())))  # above a live progress bar, never tearing it


def usage_exit(msg: object) -> NoReturn:
    """A usage error: one line, exit 2."""
    err(msg)
    raise typer.Exit(2)


def run_or_exit(fn: Callable[[], Any]) -> Any:
    """Call fn(); a UsageError exits 2, another SleuthError exits 1, each as one line on stderr."""
    from ..errors import SleuthError, UsageError

    try:
        return fn()
    except UsageError as exc:
        err(exc)
        raise typer.Exit(2) from exc
    except SleuthError as exc:
        err(exc)
        raise typer.Exit(1) from exc


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


def parse_options_or_exit(**options: Any) -> Any:
    """Validate scan options (one usage error naming every bad option)."""
    from ..options import parse_options

    return run_or_exit(lambda: parse_options(options))


class Batch:
    """Runs the pipeline over a command's inputs and counts failures.

    Parameters
    ----------
    paths, recursive
        The command's inputs (files and folders).
    analyzers : list of str, optional
        Analyzer selection (default: all of ``tier``).
    tier : {"fast", "full"}
    options : ScanOptions
    jobs : int
        Worker processes.
    keep_maps : bool
        Keep thumbnails for the HTML renderer.
    """

    def __init__(self, paths: list[Path], recursive: bool, *, analyzers: Optional[list[str]] = None,
                 tier: str = "full", options: Any = None, jobs: int = 1, keep_maps: bool = False,
                 quiet: bool = False, follow_links: bool = False, engine: Any = None) -> None:
        from ..analyzers import select
        from ._engine import EngineChoice

        run_or_exit(lambda: select(analyzers, tier=tier))
        self.engine: EngineChoice = engine or EngineChoice()
        self.engine.check()
        self.args = [str(p) for p in paths]
        self.skipped: list[tuple[str, str]] = []
        self.files: list[str]
        self.problems: list[tuple[str, str]]
        if self.engine.is_ray:
            self.files, self.problems = self.engine.expand(list(paths), recursive)
        else:
            self.files, self.problems = expand_inputs(list(paths), recursive, follow_links=follow_links, skipped=self.skipped)
        self.analyzers, self.tier, self.options = analyzers, tier, options
        self.jobs, self.keep_maps, self.quiet = jobs, keep_maps, quiet
        self.failed_files = 0  # files that were read but failed (load error or an analyzer failure)
        self.extra_failures = 0  # failures a command found in its own rows
        self._reported: set[int] = set()

    def reports(self) -> Iterator[Any]:
        """Reports in input order (missing inputs first as error reports); failures on stderr."""
        from ..pipeline import failures
        from ..report import Report
        from ._engine import run_batch

        # a missing input is reported where it was named among the arguments
        pending = sorted(((self._rank(p), i, p, why) for i, (p, why) in enumerate(self.problems)), reverse=True)
        progress = sys.stderr.isatty() and not self.quiet
        e = self.engine
        for rep in run_batch(e.engine, "scan", self.files, address=e.ray_address, shards=e.shards, workers=e.workers,
                             jobs=self.jobs, analyzers=self.analyzers, tier=self.tier, options=self.options,
                             keep_maps=self.keep_maps, progress=progress):
            while pending and pending[-1][0] <= self._rank(rep.path):
                _, _, p, why = pending.pop()
                yield Report(path=p, error=f"{p}: {why}")
            lines = [rep.error] if rep.error else failures(rep)  # an analyzer that failed counts too
            self.failed_files += bool(lines)
            if lines:
                self._reported.add(id(rep))
            for line in lines:
                err(line)
            yield rep
        while pending:
            _, _, p, why = pending.pop()
            yield Report(path=p, error=f"{p}: {why}")

    def rows(self, build: Callable[[Any], Any]) -> Iterator[Any]:
        """A command's result rows, built from each report (kept for :meth:`html`); row failures counted."""
        self.collected: list[Any] = []
        for rep in self.reports():
            self.collected.append(rep)
            row = build(rep)
            self.row_error(rep, getattr(row, "error", None))
            yield row

    def html(self, _rows: Any) -> str:
        """The HTML page of the reports behind the rows (``--format html`` of any analysis command)."""
        from ..report import render_html

        return render_html(self.collected)

    def _rank(self, path: str) -> int:
        for i, a in enumerate(self.args):
            if path == a or path.startswith(a.rstrip("/") + "/"):
                return i
        return len(self.args)

    @property
    def failed(self) -> int:
        return self.failed_files + self.extra_failures + len(self.problems)

    def row_error(self, rep: Any, error: Optional[str]) -> None:
        """Count and print a failure a command found in its row, unless the report's was already."""
        if error and not rep.error and id(rep) not in self._reported:
            self.extra_failures += 1
            self._reported.add(id(rep))
            err(error)

    def exit(self) -> None:
        """Print the summary line (every input counted) and exit 1 when any input failed."""
        if len(self.files) + len(self.problems) > 1 or self.skipped:
            err(summary_line(len(self.files), self.failed_files + self.extra_failures, len(self.problems), self.skipped))
        if self.failed:
            raise typer.Exit(1)


def _dump(row: Any, indent: Optional[int] = None) -> str:
    from pydantic_core import to_jsonable_python

    from ..render.text import json_line
    from ..util import to_jsonable

    return json_line(to_jsonable(to_jsonable_python(row)), indent=indent)


def write_output(text: str, out: Optional[Path], default_name: str) -> None:
    """Write text atomically to ``out`` (a file, or a folder receiving ``default_name``), else stdout."""
    from ..util import atomic_write_text

    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
        return
    dest = out / default_name if (out.is_dir() or str(out).endswith("/")) else out
    atomic_write_text(dest, text)
    err(f"wrote {dest}")


def emit(rows: Iterable[Any], fmt: Format, out: Optional[Path] = None, *, name: str,
         table: Optional[Callable[[list[Any]], None]] = None,
         html: Optional[Callable[[list[Any]], str]] = None, document: Any = None) -> list[Any]:
    """Write a command's rows in ``fmt``; JSONL to stdout streams row by row.

    Parameters
    ----------
    rows : iterable
        Pydantic models (or JSON-ready values), consumed once.
    fmt : Format
    out : Path, optional
        File or folder to write atomically (default stdout).
    name : str
        Command name, used for default file names (``<name>.json``).
    table : callable, optional
        Renders the collected rows for people (default: one JSON object per line).
    html : callable, optional
        Renders the collected rows as an HTML page; without it ``--format html`` is a usage error.
    document : any, optional
        For ``json``: the document to write instead of the list of rows (e.g. a summary object).

    Returns
    -------
    list
        The rows, collected.
    """
    if fmt == Format.html and html is None:
        usage_exit(f"--format html is not available for '{name}'; use table, json or jsonl")
    collected: list[Any] = []
    if fmt == Format.jsonl and out is None:
        for r in rows:
            collected.append(r)
            sys.stdout.write(_dump(r) + "\n")
            sys.stdout.flush()
        return collected
    collected = list(rows)
    if fmt == Format.table:
        if table is not None:
            table(collected)
        else:
            for r in collected:
                typer.echo(_dump(r))
    elif fmt == Format.json:
        doc = document if document is not None else collected
        write_output(_dump(doc, indent=2), out, f"{name}.json")
    elif fmt == Format.jsonl:
        write_output("".join(_dump(r) + "\n" for r in collected), out, f"{name}.jsonl")
    elif html is not None:
        write_output(html(collected), out, f"{name}.html")
    return collected


def split_names(text: Optional[str]) -> Optional[list[str]]:
    """``"a, b"`` -> ``["a", "b"]``; None or empty -> None."""
    names = [a.strip() for a in (text or "").split(",") if a.strip()]
    return names or None


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
