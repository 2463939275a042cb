"""Copy-detection commands: ``sleuth index add/remove/stats``, ``sleuth search``, ``sleuth dedup``,
``sleuth replication``.

Exit codes: 0 every input processed, 1 some inputs (or the index) failed while the rest were
still processed and reported, 2 usage errors. ``--format json`` prints exactly one JSON document.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from . import _engine as _eng
from ._common import Batch, Format, emit, expand_inputs, format_option, out_option, parse_options_or_exit
from ._common import err as _err
from ._common import run_or_exit as _run

if TYPE_CHECKING:
    from ..results import SearchResult


def _files(paths, recursive):
    return expand_inputs(paths, recursive, require=False)


def _emit(doc: object, fmt: Format, name: str, out: Optional[Path] = None) -> None:
    """A one-document command (index add/remove/stats, dedup, replication): JSON or JSONL of the document."""
    emit([doc], fmt, out, name=name, document=doc, table=lambda _rows: None)


def _labels(items: Optional[list[str]]) -> dict[str, str]:
    out = {}
    for it in items or []:
        if "=" not in it:
            _err(f"--label must be KEY=VALUE, got {it!r}")
            raise typer.Exit(2)
        k, v = it.split("=", 1)
        out[k.strip()] = v.strip()
    return out


index_app = typer.Typer(help="Build and inspect a copy-detection index.", no_args_is_help=True)


def index_add(
    index: Path = typer.Argument(..., help="Index directory (created when missing)."),
    paths: list[Path] = typer.Argument(..., help="Image files or folders to add."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Descend into sub-folders."),
    background: bool = typer.Option(False, "--background", help="Add as background (distractor) images for score normalisation."),
    label: Optional[list[str]] = typer.Option(None, "--label", help="KEY=VALUE label stored with every added image."),
    descriptors: str = typer.Option("sscd,pdq", "--descriptors", help="Descriptors of a new index (comma-separated: sscd, sscd-distilled, pdq, phash)."),
    no_local: bool = typer.Option(False, "--no-local-features", help="New index: do not store SIFT features (verification then reads reference files)."),
    batch: int = typer.Option(16, "--batch", min=1, help="Images per atomic commit."),
    fmt: Format = format_option(),
    engine: _eng.Engine = _eng.ENGINE, ray_address: Optional[str] = _eng.RAY_ADDRESS,
    shards: Optional[str] = _eng.SHARDS, workers: Optional[int] = _eng.WORKERS,
) -> None:
    """Add images to an index (broken files are skipped and listed; the rest are added)."""
    from ..copydetect.index import CopyIndex
    from ..results import IndexAddResult

    labels = _labels(label)
    descs = [d.strip() for d in descriptors.split(",") if d.strip()]
    idx = _run(lambda: CopyIndex.create_or_open(index, descs, local_features=not no_local))
    files, problems = _eng.expand(engine, paths, recursive, require=False)
    res = _run(lambda: _eng.run_batch(engine, "index-add", files, address=ray_address, shards=shards, workers=workers,
                                      index=idx, role="background" if background else "reference", labels=labels,
                                      batch=batch, progress=sys.stderr.isatty()))
    for p, why in res.skipped:
        _err(f"{p}: skipped: {why}")
    skipped = problems + res.skipped
    if fmt != Format.table:
        _emit(IndexAddResult(index=str(index), added=[{"id": i, "path": p} for i, p in res.added],
                             skipped=[{"path": p, "reason": r} for p, r in skipped],
                             duplicates=[{"path": p, "existing_id": i} for p, i in res.duplicates],
                             stats=idx.stats()), fmt, "index-add")
    else:
        typer.echo(f"added {len(res.added)} image(s) to {index}; skipped {len(skipped)}; "
                   f"{len(res.duplicates)} already indexed (same sha256); "
                   f"{idx.count('reference')} reference(s), {idx.count('background')} background")
    if skipped:
        raise typer.Exit(1)


def index_remove(
    index: Path = typer.Argument(..., help="Index directory."),
    ids: list[int] = typer.Argument(..., help="Image ids to remove."),
    fmt: Format = format_option(),
) -> None:
    """Remove images by id."""
    from ..copydetect.index import CopyIndex

    removed, missing = _run(lambda: CopyIndex.open(index).remove(ids))
    for i in missing:
        _err(f"{index}: no image with id {i}")
    if fmt != Format.table:
        from ..results import IndexRemoveResult

        _emit(IndexRemoveResult(index=str(index), removed=removed, not_found=missing), fmt, "index-remove")
    else:
        typer.echo(f"removed {len(removed)} image(s); {len(missing)} id(s) not found")
    if missing:
        raise typer.Exit(1)


def index_stats(
    index: Path = typer.Argument(..., help="Index directory."),
    fmt: Format = format_option(),
) -> None:
    """Counts, descriptors, search structures and disk use of an index."""
    from ..copydetect.index import CopyIndex

    st = _run(lambda: CopyIndex.open(index).stats())
    if fmt != Format.table:
        _emit(st, fmt, "index-stats")
    else:
        for k, v in st.items():
            typer.echo(f"{k:16} {v}")


def search(
    index: Path = typer.Argument(..., help="Index directory."),
    queries: list[Path] = typer.Argument(..., help="Query images or folders."),
    top_k: int = typer.Option(5, "--top-k", "-k", min=1, help="Matches per query."),
    recursive: bool = typer.Option(False, "--recursive", "-r"),
    no_verify: bool = typer.Option(False, "--no-verify", help="Skip local (SIFT) verification: faster, less robust."),
    copies_only: bool = typer.Option(False, "--copies-only", help="Only list matches decided to be copies."),
    fmt: Format = format_option(),
    out: Optional[Path] = out_option(),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Worker processes."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    from ..copydetect.api import matcher_for
    from ..errors import IndexError_
    from ..results import SEARCH_ANALYZERS, search_result

    def open_matcher() -> None:
        m = matcher_for(index, verify=not no_verify)
        if m.index.count("reference") == 0:
            raise IndexError_("index holds no reference images (add some with 'sleuth index add')", str(index))

    _run(open_matcher)
    options = parse_options_or_exit(index=index, copy_top_k=top_k, copy_verify=not no_verify)
    batch = Batch(queries, recursive, analyzers=SEARCH_ANALYZERS, options=options, jobs=jobs,
                  keep_maps=fmt == Format.html, quiet=quiet)
    emit(batch.rows(lambda rep: search_result(rep, copies_only=copies_only)), fmt, out, name="search", table=_table_search, html=batch.html)
    batch.exit()


def dedup(
    paths: list[Path] = typer.Argument(..., help="Image files or folders."),
    recursive: bool = typer.Option(False, "--recursive", "-r"),
    descriptor: str = typer.Option("sscd", "--descriptor", help="Global descriptor (sscd or sscd-distilled)."),
    fmt: Format = format_option(),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the JSON here instead of stdout."),
    engine: _eng.Engine = _eng.ENGINE, ray_address: Optional[str] = _eng.RAY_ADDRESS,
    shards: Optional[str] = _eng.SHARDS, workers: Optional[int] = _eng.WORKERS,
) -> None:
    """Group near-duplicates; the first path of each cluster is the one to keep."""
    from ..copydetect.dedup import dedup as run_dedup

    _eng.local_only(engine, "dedup", ray_address, shards, workers)
    files, problems = _files(paths, recursive)
    res = _run(lambda: run_dedup(files, descriptor=descriptor, progress=sys.stderr.isatty()))
    for p, why in res.errors:
        _err(f"{p}: {why}")
    if fmt != Format.table:
        _emit(res.clusters, fmt, "dedup", out)
    else:
        for c in res.clusters:
            typer.echo(f"keep {c[0]}")
            for p in c[1:]:
                typer.echo(f"  dup {p}")
        typer.echo(f"{len(res.clusters)} cluster(s) of near-duplicates among {res.n_images} image(s); "
                   f"{sum(len(c) - 1 for c in res.clusters)} removable")
    if problems or res.errors:
        raise typer.Exit(1)


def replication(
    generated: list[Path] = typer.Argument(..., help="Folder(s) or files of generated images."),
    index: Path = typer.Option(..., "--index", help="Index of the training/reference images."),
    recursive: bool = typer.Option(False, "--recursive", "-r"),
    fmt: Format = format_option(),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the JSON here instead of stdout."),
) -> None:
    """Per generated image its closest reference and copy score; for the set, the replication ratio."""
    from ..copydetect.dedup import replication as run_rep
    from ..copydetect.index import CopyIndex

    files, problems = _files(generated, recursive)
    res = _run(lambda: run_rep(files, CopyIndex.open(index), progress=sys.stderr.isatty()))
    failed = [r for r in res.rows if r["error"]]
    for r in failed:
        _err(r["error"])
    if fmt != Format.table:
        from ..results import ReplicationResult

        _emit(ReplicationResult(index=str(index), images=res.rows, n_images=res.n_ok, n_copies=res.n_copies,
                                replication_ratio=res.ratio, ci95=list(res.ci95), decision_threshold=res.decision,
                                errors=[{"path": p, "reason": w} for p, w in problems]), fmt, "replication", out)
    else:
        for r in res.rows:
            if r["error"]:
                continue
            mark = "COPY" if r["is_copy"] else "    "
            typer.echo(f"{mark} {r['score']:.3f}  {r['path']}  ->  #{r['reference_id']} {r['reference_path']}")
        typer.echo(f"replication ratio {res.ratio:.3f} ({res.n_copies}/{res.n_ok}; 95% CI {res.ci95[0]:.3f}-{res.ci95[1]:.3f}) "
                   f"at copy score >= {res.decision:g}")
    if problems or failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add these commands to the top-level app."""
    app.add_typer(index_app, name="index")
    index_app.command("add")(index_add)
    index_app.command("remove")(index_remove)
    index_app.command("stats")(index_stats)
    app.command()(search)
    app.command()(dedup)
    app.command()(replication)


def _table_search(rows: list[SearchResult]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    t = Table(title="sleuth search", show_lines=True)
    for c in ("query", "reference", "score", "copy", "inliers", "relation"):
        t.add_column(c, overflow="fold")
    for row in rows:
        r = row.model_dump()
        if r["error"]:
            t.add_row(escape(r["query"]), f"[red]{escape(r['error'])}[/red]", "", "", "", "")
            continue
        if not r["matches"]:
            t.add_row(escape(r["query"]), "-", "", "", "", "")
        for i, m in enumerate(r["matches"]):
            t.add_row(escape(r["query"]) if i == 0 else "", escape(f"#{m['id']} {m['path']}"), f"{m['score']:.3f}",
                      "yes" if m["is_copy"] else "no", str(m["inliers"]), m["regions"]["relation"])
    Console().print(t)
