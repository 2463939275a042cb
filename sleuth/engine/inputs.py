"""Listing the inputs of a batch job: local files and folders, globs, text or Parquet manifests
of paths or URIs, and any fsspec URL (``s3://``, ``gs://``, ``file://`` ...).

Local files and folders are expanded with :func:`sleuth.imageio.iter_image_paths`, exactly as the
local engine does, so both engines see the same list in the same order. A top-level argument
ending in ``.txt`` or ``.parquet`` is a manifest: a text file holds one path or URI per line
(blank lines and lines starting with ``#`` ignored), a Parquet file a ``url`` or ``path``
column (img2dataset's and clip-retrieval's column names). Relative entries of a manifest are
resolved against the manifest's folder. Entries are kept as given: a missing or broken one is
reported per item by the job, never by the listing.
"""
from __future__ import annotations

import glob as _glob
import os
from pathlib import Path

MANIFEST_SUFFIXES = (".txt", ".parquet")
_GLOB_CHARS = set("*?[")


def is_uri(s: str) -> bool:
    """True for an fsspec URL with a protocol other than a plain local path."""
    return "://" in s and not s.startswith("file://")


def _local(s: str) -> str:
    return s.removeprefix("file://")


def read_manifest(path: str) -> list[str]:
    """Entries of a text (one per line) or Parquet (``url`` or ``path`` column) manifest.

    Parameters
    ----------
    path : str
        Local path or fsspec URL of the manifest.

    Returns
    -------
    list of str
        The entries in file order; relative local entries joined to the manifest's folder.
    """
    import fsspec

    from ..errors import UsageError

    if path.endswith(".parquet"):
        import pyarrow.parquet as pq

        with fsspec.open(path, "rb") as fh:
            table = pq.read_table(fh)
        col = next((c for c in ("url", "path", "uri") if c in table.column_names), None)
        if col is None:
            raise UsageError(f"{path}: Parquet manifest has no 'url' or 'path' column (columns: {', '.join(table.column_names)})")
        entries = [str(v) for v in table.column(col).to_pylist() if v is not None]
    else:
        with fsspec.open(path, "rt", encoding="utf-8") as fh:
            entries = [ln.strip() for ln in fh if ln.strip() and not ln.lstrip().startswith("#")]
    if not is_uri(path):
        base = Path(_local(path)).parent
        entries = [e if is_uri(e) or os.path.isabs(_local(e)) else str(base / e) for e in entries]
    return entries


def _expand_uri(s: str, recursive: bool) -> tuple[list[str], list[tuple[str, str]]]:
    import fsspec

    fs, _, _ = fsspec.get_fs_token_paths(s)
    proto = s.split("://", 1)[0]
    try:
        if any(c in s for c in _GLOB_CHARS):
            found = sorted(fs.glob(s))
        elif fs.isdir(s):
            found = sorted(fs.find(s, maxdepth=None if recursive else 1))
        elif fs.exists(s):
            found = [s]
        else:
            return [], [(s, "no such file or folder")]
    except Exception as exc:  # a listing failure is one problem line, never a crash
        return [], [(s, f"cannot list ({type(exc).__name__}: {exc})")]
    out = [f if "://" in f else f"{proto}://{f}" for f in found]
    return [f for f in out if not Path(f.rsplit("/", 1)[-1]).name.startswith(".")], []


def expand(inputs: list[str], recursive: bool = False) -> tuple[list[str], list[tuple[str, str]]]:
    """Expand job inputs into an ordered list of items and a list of (input, reason) problems.

    Parameters
    ----------
    inputs : list of str
        Files, folders, globs, manifests (``.txt``/``.parquet``) or fsspec URLs.
    recursive : bool
        Descend into sub-folders of folders (local and remote).

    Returns
    -------
    (list of str, list of (str, str))
        Items in order (folders sorted as the local engine sorts them), and problems.
    """
    from ..imageio import iter_image_paths

    items: list[str] = []
    problems: list[tuple[str, str]] = []
    plain: list[str] = []

    def flush() -> None:
        if plain:
            f, p = iter_image_paths(list(plain), recursive=recursive)
            items.extend(f)
            problems.extend(p)
            plain.clear()

    for raw in (str(x) for x in inputs):
        s = _local(raw)
        if s.endswith(MANIFEST_SUFFIXES) and (is_uri(s) or os.path.isfile(s)):
            flush()
            try:
                items.extend(read_manifest(s))
            except Exception as exc:
                problems.append((raw, f"unreadable manifest ({' '.join(str(exc).split())[:160]})"))
        elif is_uri(s):
            flush()
            f, p = _expand_uri(s, recursive)
            items.extend(f)
            problems.extend(p)
        elif any(c in s for c in _GLOB_CHARS) and not os.path.exists(s):
            flush()
            found = sorted(_glob.glob(s, recursive=recursive))
            if not found:
                problems.append((raw, "glob matched no file"))
            plain.extend(found)
            flush()
        else:
            plain.append(s)
    flush()
    return items, problems
