"""Progress bars for long commands: on stderr only, never capturing stdout.

Rich's ``Progress`` redirects stdout and stderr by default while it is live, which swallowed
``sleuth scan --format jsonl > file`` in a terminal; here both redirects are off, the bar
draws on stderr, and it is off when stderr is not a terminal or with ``--quiet``.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_ACTIVE: list[Bar] = []


def log(line: object) -> None:
    """One line on stderr; above the bar while one is drawn (so the bar is never torn by it)."""
    from .text import display

    text = display(" ".join(str(line).split()))
    if _ACTIVE:
        from rich.text import Text

        _ACTIVE[-1].console.print(Text(text), soft_wrap=True)
    else:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


def wanted(quiet: bool = False) -> bool:
    """Whether a bar should be drawn: stderr is a terminal and not ``--quiet``."""
    return not quiet and sys.stderr.isatty()


class Bar:
    """A started progress bar; ``advance()`` moves it, ``stop()`` removes it (transient)."""

    def __init__(self, total: int, description: str = "scanning") -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.console = Console(stderr=True)
        self._prog = Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                              MofNCompleteColumn(), TimeRemainingColumn(), console=self.console,
                              transient=True, redirect_stdout=False, redirect_stderr=False)
        self._prog.start()
        self._task = self._prog.add_task(description, total=total)
        _ACTIVE.append(self)

    def advance(self, n: int = 1) -> None:
        self._prog.advance(self._task, n)

    def stop(self) -> None:
        self._prog.stop()
        if self in _ACTIVE:
            _ACTIVE.remove(self)


@contextmanager
def progress(total: int, description: str = "scanning", enabled: bool = True) -> Iterator[Callable[[], None]]:
    """Context manager yielding an ``advance()`` callable (a no-op when the bar is off).

    Parameters
    ----------
    total : int
        Number of steps.
    description : str
        Text beside the bar.
    enabled : bool
        Draw at all (the caller passes ``wanted(quiet)``); one step never draws a bar.

    Returns
    -------
    context manager
        Yields a function that advances the bar by one.
    """
    if not enabled or total <= 1:
        yield lambda: None
        return
    bar = Bar(total, description)
    try:
        yield bar.advance
    finally:
        bar.stop()
