"""One progress bar for every long command: on stderr, never capturing stdout.

Design
------
Rich's ``Progress`` redirects stdout and stderr through its live display by default, which
sent ``sleuth scan --format jsonl > file`` output to the terminal in v0.1. Here both
redirections are off and the bar draws on a stderr console, only when stderr is a terminal
(and the caller did not ask for quiet), so piped and redirected output is never touched.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Optional, TypeVar

T = TypeVar("T")


def enabled(quiet: bool = False) -> bool:
    """Whether a bar should be drawn: stderr is a terminal and not ``quiet``."""
    return not quiet and sys.stderr.isatty()


@contextmanager
def progress_bar(total: Optional[int], description: str, show: bool = True) -> Iterator[Any]:
    """A context yielding ``advance(n=1)``; draws nothing when ``show`` is false.

    Parameters
    ----------
    total : int, optional
        Number of steps (None: unknown, shows a spinner-style bar).
    description : str
        Label shown before the bar.
    show : bool
        Draw the bar (callers pass :func:`enabled`).

    Returns
    -------
    context manager
        Yields a callable ``advance(n=1)``.
    """
    if not show:
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    prog = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                    TimeRemainingColumn(), console=Console(stderr=True), transient=True,
                    redirect_stdout=False, redirect_stderr=False)
    with prog:
        task = prog.add_task(description, total=total)
        yield lambda n=1: prog.advance(task, n)


def progress_iter(items: Iterable[T], description: str, show: bool = True) -> Iterator[T]:
    """Iterate ``items`` with a progress bar on stderr (see :func:`progress_bar`)."""
    seq = items if hasattr(items, "__len__") else list(items)
    with progress_bar(len(seq), description, show) as advance:  # type: ignore[arg-type]
        for it in seq:
            yield it
            advance()
