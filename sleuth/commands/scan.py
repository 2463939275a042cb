"""``sleuth scan``: every analyzer of a tier (or a selection) over files and folders."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..render.help import epilog
from . import _engine as _eng
from ._common import Batch, Format, format_option, out_option, parse_options_or_exit, split_names


def register(app: typer.Typer) -> None:
    @app.command(help="Analyse images and report provenance, watermark, AI-generation, manipulation and copy evidence.",
                 epilog=epilog("scan"))
    def scan(
        paths: list[Path] = typer.Argument(..., help="Image files or folders."),
        recursive: bool = typer.Option(False, "--recursive", "-r", help="Descend into sub-folders."),
        fmt: Format = format_option(),
        out: Optional[Path] = out_option(),
        jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Worker processes."),
        analyzers: Optional[str] = typer.Option(None, "--analyzers", "-a", help="Comma-separated analyzer names (default: all of the tier; `sleuth analyzers` lists them)."),
        fast: bool = typer.Option(False, "--fast", help="Only the fast tier: C2PA, metadata, known watermarks."),
        trust_list: Optional[Path] = typer.Option(None, "--trust-list", help="PEM bundle of trusted C2PA signers."),
        key: Optional[list[str]] = typer.Option(None, "--key", help="Watermark key(s) to look for (default: $SLEUTH_WATERMARK_KEY, one key, spaces allowed)."),
        index: Optional[Path] = typer.Option(None, "--index", help="Copy-detection index to match against (default: $SLEUTH_INDEX)."),
        maps_dir: Optional[Path] = typer.Option(None, "--maps-dir", help="Write heatmap PNGs here (one per map, at the image's size)."),
        max_pixels: Optional[int] = typer.Option(None, "--max-pixels", help="Refuse images above this many pixels (default 100 MP)."),
        follow_links: bool = typer.Option(False, "--follow-links", help="Follow symbolic links that leave a scanned folder."),
        time_budget: Optional[float] = typer.Option(None, "--time-budget", min=0, help="Seconds per file before its worker is stopped (default 5 fast, 30 full, or 0.6 / 3 per megapixel when larger; a value given is flat; 0 = none)."),
        engine: _eng.Engine = _eng.ENGINE, ray_address: Optional[str] = _eng.RAY_ADDRESS,
        shards: Optional[str] = _eng.SHARDS, workers: Optional[int] = _eng.WORKERS,
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Table: name the analyzers that found nothing and list every evidence item."),
    ) -> None:
        from ..render import emit as emit_reports
        from ..settings import get_settings

        st = get_settings()
        options = parse_options_or_exit(
            trust_list=trust_list, watermark_keys=list(key or ([st.watermark_key] if st.watermark_key else [])),
            index=index or st.index, max_pixels=max_pixels, maps_dir=maps_dir, time_budget=time_budget)
        batch = Batch(paths, recursive, analyzers=split_names(analyzers), tier="fast" if fast else "full",
                      options=options, jobs=jobs, keep_maps=fmt == Format.html, quiet=quiet, follow_links=follow_links,
                      engine=_eng.EngineChoice(engine, ray_address, shards, workers))
        emit_reports(batch.reports(), fmt.value, out, verbose=verbose)
        batch.exit()
