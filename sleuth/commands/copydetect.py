"""Copy-detection commands: ``sleuth index add/remove/stats``, ``sleuth search``, ``sleuth dedup``,
``sleuth replication``.

Exit codes: 0 every input processed, 1 some inputs (or the index) failed while the rest were
still processed and reported, 2 usage errors. ``--format json`` prints exactly one JSON document.
"""
from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer


from . import _engine as _eng
from ._common import err as _err
from ._common import expand_inputs
from ._common import run_or_exit as _run


def _files(paths, recursive):
    return expand_inputs(paths, recursive, require=False)


class OutFmt(str, Enum):
    table = "table"
    json = "json"


def _emit(doc: object, out: Optional[Path] = None) -> None:
    from ..util import atomic_write_text, dumps

    text = dumps(doc, indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(out, text)
        _err(f"wrote {out}")


def _labels(items: Optional[list[str]]) -> dict[str, str]:
    out = {}
    for it in items or []:
        if "=" not in it:
            _err(f"--label must be KEY=VALUE, got {it!r}")
            raise typer.Exit(2)
        k, v = it.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def register(app: typer.Typer) -> None:
    index_app = typer.Typer(help="Build and inspect a copy-detection index.", no_args_is_help=True)
    app.add_typer(index_app, name="index")

    @index_app.command("add")
    def index_add(
        index: Path = typer.Argument(..., help="Index directory (created when missing)."),
        paths: list[Path] = typer.Argument(..., help="Image files or folders to add."),
        recursive: bool = typer.Option(False, "--recursive", "-r", help="Descend into sub-folders."),
        background: bool = typer.Option(False, "--background", help="Add as background (distractor) images for score normalisation."),
        label: Optional[list[str]] = typer.Option(None, "--label", help="KEY=VALUE label stored with every added image."),
        descriptors: str = typer.Option("sscd,pdq", "--descriptors", help="Descriptors of a new index (comma-separated: sscd, sscd-distilled, pdq, phash)."),
        no_local: bool = typer.Option(False, "--no-local-features", help="New index: do not store SIFT features (verification then reads reference files)."),
        batch: int = typer.Option(16, "--batch", min=1, help="Images per atomic commit."),
        fmt: OutFmt = typer.Option(OutFmt.table, "--format", "-f"),
        engine: _eng.Engine = _eng.ENGINE, ray_address: Optional[str] = _eng.RAY_ADDRESS,
        shards: Optional[str] = _eng.SHARDS, workers: Optional[int] = _eng.WORKERS,
    ) -> None:
        """Add images to an index (broken files are skipped and listed; the rest are added)."""
        from ..copydetect.index import CopyIndex

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
        if fmt == OutFmt.json:
            _emit({"index": str(index), "added": [{"id": i, "path": p} for i, p in res.added],
                   "skipped": [{"path": p, "reason": r} for p, r in skipped],
                   "duplicates": [{"path": p, "existing_id": i} for p, i in res.duplicates], "stats": idx.stats()})
        else:
            typer.echo(f"added {len(res.added)} image(s) to {index}; skipped {len(skipped)}; "
                       f"{len(res.duplicates)} already indexed (same sha256); "
                       f"{idx.count('reference')} reference(s), {idx.count('background')} background")
        if skipped:
            raise typer.Exit(1)

    @index_app.command("remove")
    def index_remove(
        index: Path = typer.Argument(..., help="Index directory."),
        ids: list[int] = typer.Argument(..., help="Image ids to remove."),
        fmt: OutFmt = typer.Option(OutFmt.table, "--format", "-f"),
    ) -> None:
        """Remove images by id."""
        from ..copydetect.index import CopyIndex

        removed, missing = _run(lambda: CopyIndex.open(index).remove(ids))
        for i in missing:
            _err(f"{index}: no image with id {i}")
        if fmt == OutFmt.json:
            _emit({"index": str(index), "removed": removed, "not_found": missing})
        else:
            typer.echo(f"removed {len(removed)} image(s); {len(missing)} id(s) not found")
        if missing:
            raise typer.Exit(1)

    @index_app.command("stats")
    def index_stats(
        index: Path = typer.Argument(..., help="Index directory."),
        fmt: OutFmt = typer.Option(OutFmt.table, "--format", "-f"),
    ) -> None:
        """Counts, descriptors, search structures and disk use of an index."""
        from ..copydetect.index import CopyIndex

        st = _run(lambda: CopyIndex.open(index).stats())
        if fmt == OutFmt.json:
            _emit(st)
        else:
            for k, v in st.items():
                typer.echo(f"{k:16} {v}")

    @app.command()
    def search(
        index: Path = typer.Argument(..., help="Index directory."),
        queries: list[Path] = typer.Argument(..., help="Query images or folders."),
        top_k: int = typer.Option(5, "--top-k", "-k", min=1, help="Matches per query."),
        recursive: bool = typer.Option(False, "--recursive", "-r"),
        no_verify: bool = typer.Option(False, "--no-verify", help="Skip local (SIFT) verification: faster, less robust."),
        copies_only: bool = typer.Option(False, "--copies-only", help="Only list matches decided to be copies."),
        fmt: OutFmt = typer.Option(OutFmt.table, "--format", "-f"),
    ) -> None:
        """Find the references each query is a (possibly edited) copy of."""
        from ..copydetect.api import Matcher
        from ..copydetect.index import CopyIndex
        from ..errors import IndexError_, SleuthError

        def open_matcher() -> Matcher:
            m = Matcher(CopyIndex.open(index), verify=not no_verify)
            if m.index.count("reference") == 0:
                raise IndexError_("index holds no reference images (add some with 'sleuth index add')", str(index))
            return m

        m = _run(open_matcher)
        files, problems = _files(queries, recursive)
        out = [{"query": p, "error": f"{p}: {why}", "matches": []} for p, why in problems]
        for f in files:
            try:
                ms = [x for x in m.match(f, top_k=top_k) if x.is_copy or not copies_only]
                out.append({"query": f, "error": None, "matches": [x.to_dict() for x in ms]})
            except SleuthError as exc:
                _err(exc)
                out.append({"query": f, "error": str(exc), "matches": []})
        if fmt == OutFmt.json:
            _emit(out)
        else:
            _table_search(out)
        if any(r["error"] for r in out):
            raise typer.Exit(1)

    @app.command()
    def dedup(
        paths: list[Path] = typer.Argument(..., help="Image files or folders."),
        recursive: bool = typer.Option(False, "--recursive", "-r"),
        descriptor: str = typer.Option("sscd", "--descriptor", help="Global descriptor (sscd or sscd-distilled)."),
        fmt: OutFmt = typer.Option(OutFmt.table, "--format", "-f"),
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
        if fmt == OutFmt.json:
            _emit(res.clusters, out)
        else:
            for c in res.clusters:
                typer.echo(f"keep {c[0]}")
                for p in c[1:]:
                    typer.echo(f"  dup {p}")
            typer.echo(f"{len(res.clusters)} cluster(s) of near-duplicates among {res.n_images} image(s); "
                       f"{sum(len(c) - 1 for c in res.clusters)} removable")
        if problems or res.errors:
            raise typer.Exit(1)

    @app.command()
    def replication(
        generated: list[Path] = typer.Argument(..., help="Folder(s) or files of generated images."),
        index: Path = typer.Option(..., "--index", help="Index of the training/reference images."),
        recursive: bool = typer.Option(False, "--recursive", "-r"),
        fmt: OutFmt = typer.Option(OutFmt.table, "--format", "-f"),
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
        if fmt == OutFmt.json:
            _emit({"index": str(index), "images": res.rows, "n_images": res.n_ok, "n_copies": res.n_copies,
                   "replication_ratio": res.ratio, "ci95": list(res.ci95), "decision_threshold": res.decision,
                   "errors": [{"path": p, "reason": w} for p, w in problems]}, out)
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


def _table_search(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title="sleuth search", show_lines=True)
    for c in ("query", "reference", "score", "copy", "inliers", "relation"):
        t.add_column(c, overflow="fold")
    for r in rows:
        if r["error"]:
            t.add_row(r["query"], f"[red]{r['error']}[/red]", "", "", "", "")
            continue
        if not r["matches"]:
            t.add_row(r["query"], "-", "", "", "", "")
        for i, m in enumerate(r["matches"]):
            t.add_row(r["query"] if i == 0 else "", f"#{m['id']} {m['path']}", f"{m['score']:.3f}",
                      "yes" if m["is_copy"] else "no", str(m["inliers"]), m["regions"]["relation"])
    Console().print(t)
