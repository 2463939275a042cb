"""Errors that reach the user as one line: ``<file>: <reason>``.

Every error sleuth raises on purpose is a :class:`SleuthError`; the CLI prints
``str(err)`` and nothing else (no traceback) and goes on with the next file.
"""
from __future__ import annotations


class SleuthError(Exception):
    """An expected failure with a one-line, human message."""

    def __init__(self, reason: str, path: str | None = None):
        self.reason = " ".join(str(reason).split())  # always one line
        self.path = path
        super().__init__(f"{path}: {self.reason}" if path else self.reason)


class ImageLoadError(SleuthError):
    """The file is not an image we can decode safely."""


class ModelNotFoundError(SleuthError):
    """A model could not be resolved from any of the registry's four places."""


class IndexError_(SleuthError):
    """A copy-detection index problem (missing, foreign, newer format...)."""


class UsageError(SleuthError):
    """Bad arguments (exit code 2 in the CLI)."""
