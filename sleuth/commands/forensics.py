"""``sleuth forensics IMG... --out DIR``: forensic heatmaps as PNGs, integrity scores, scaling attacks.

Design
------
A selection of analyzers run by the one scan pipeline: the forensic analyzers and their
fusion (``sleuth.results.forensic_analyzers()``), with ``maps_dir`` set so every heatmap is
written by :func:`sleuth.maps.write_maps` at exactly the image's size (white = manipulated).
``sleuth scan --analyzers <the same names> --maps-dir DIR`` gives the same maps and scores.
``--format json`` prints one JSON list of :class:`sleuth.results.ForensicsResult`: per image
``path``, ``error``, ``score`` (integrity, higher = more likely manipulated), ``maps``
(analyzer -> PNG, including ``fused``), ``scaling_attack`` ({detected, score}) and
per-analyzer details. Exit codes: 0 all inputs analysed, 1 some failed (the rest still
reported), 2 usage error.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..render.help import epilog
from ._common import Batch, Format, emit, format_option, parse_options_or_exit, usage_exit


def parse_sizes(text: Optional[str]) -> Optional[list[tuple[int, int]]]:
    """``"224,256x320"`` -> ``[(224, 224), (256, 320)]``; raises ValueError on a bad size."""
    if not text:
        return None
    sizes = []
    for part in text.split(","):
        part = part.strip().lower()
        if not part:
            continue
        a, _, b = part.partition("x")
        if not a.isdigit() or (b and not b.isdigit()):
            raise ValueError(f"bad size {part!r}: use N or HxW, comma-separated")
        sizes.append((int(a), int(b or a)))
    return sizes


def register(app: typer.Typer) -> None:
    @app.command("forensics", help="Forensic heatmaps (ELA, noise, JPEG ghost/double quantisation, copy-move, self-consistency, "
                 "resampling), fused map, integrity score and image-scaling attack check; one PNG per map in --out.",
                 epilog=epilog("forensics"))
    def forensics_cmd(
        paths: list[Path] = typer.Argument(..., help="Image files or folders."),
        out: Path = typer.Option(..., "--out", "-o", help="Folder for the heatmap PNGs (created)."),
        fmt: Format = format_option(),
        recursive: bool = typer.Option(False, "--recursive", "-r", help="Descend into sub-folders."),
        scaling_size: Optional[str] = typer.Option(None, "--scaling-size",
                                                   help="Model input size(s) to check for scaling attacks, e.g. 224 or 224x224,256."),
        max_pixels: Optional[int] = typer.Option(None, "--max-pixels", help="Refuse images above this many pixels."),
        jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Worker processes."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    ) -> None:
        from ..results import forensic_analyzers, forensics_result

        try:
            sizes = parse_sizes(scaling_size)
        except ValueError as exc:
            usage_exit(f"--scaling-size: {exc}")
        if out.exists() and not out.is_dir():
            usage_exit(f"{out}: --out must be a folder")
        options = parse_options_or_exit(scaling_sizes=sizes, max_pixels=max_pixels, maps_dir=out)
        batch = Batch(paths, recursive, analyzers=forensic_analyzers(), options=options, jobs=jobs,
                      keep_maps=fmt == Format.html, quiet=quiet)
        emit(batch.rows(forensics_result), fmt, None, name="forensics", table=_table, html=batch.html)
        batch.exit()


def _table(rows: list) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    t = Table(title="sleuth forensics")
    for c in ("file", "verdict", "score", "scaling attack", "fired", "maps"):
        t.add_column(c, overflow="fold")
    for r in rows:
        if r.error:
            t.add_row(escape(r.path), "[red]error[/red]", "", "", escape(r.error), "")
            continue
        fired = [n for n, a in r.analyzers.items() if a.verdict in ("manipulated", "scaling-attack")]
        sa = r.scaling_attack or {}
        t.add_row(escape(r.path), str(r.verdict), "" if r.score is None else f"{r.score:.3f}",
                  "yes" if sa.get("detected") else "no", ", ".join(fired), str(len(r.maps)))
    Console().print(t)
