"""``sleuth detect`` and ``sleuth train`` (aigen, enroll).

``detect IMG...`` prints one row (table) or one JSON object per image (``--format json``:
path, error, probability, is_ai, fpr_target, detectors, family, family_probability,
reliability, ...). Exit 0 when all images were analysed, 1 when some failed, 2 on usage errors.
``train aigen MANIFEST_OR_DIR --out HEAD`` reproduces the shipped head; ``train enroll NAME DIR``
adds a generator family to a head without retraining anything else; ``train selfconsistency DATA --out NPZ``
reproduces the forensic self-consistency weights.
"""
from __future__ import annotations

import shlex
from pathlib import Path
from typing import Optional

import typer

from ..render.help import epilog
from . import _engine as _eng
from ._common import Batch, Format, emit, format_option, out_option, parse_options_or_exit
from ._common import err as _err
from ._common import run_or_exit as _run

DETECT_HELP = "Probability that each image is AI-generated, the decision at the calibrated default FPR, per-detector scores and the generator family."


train_app = typer.Typer(help="Train the AI-image detector head, enrol a generator, or train the self-consistency model.", no_args_is_help=True)


def detect_cmd(
    paths: list[Path] = typer.Argument(..., help="Image files or folders."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Descend into sub-folders."),
    fmt: Format = format_option(),
    out: Optional[Path] = out_option(),
    head: Optional[Path] = typer.Option(None, "--head", help="Detector head JSON (default: $SLEUTH_AIGEN_HEAD, else the enrolled user head, else the shipped one)."),
    maps_dir: Optional[Path] = typer.Option(None, "--maps-dir", help="Write the tile score maps as PNGs here."),
    max_pixels: Optional[int] = typer.Option(None, "--max-pixels", help="Refuse images above this many pixels (default 100 MP)."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Worker processes."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    engine: _eng.Engine = _eng.ENGINE, ray_address: Optional[str] = _eng.RAY_ADDRESS,
    shards: Optional[str] = _eng.SHARDS, workers: Optional[int] = _eng.WORKERS,
) -> None:
    from ..detect.detector import AigenDetector
    from ..results import DETECT_ANALYZERS, detect_result

    options = parse_options_or_exit(aigen_head=head, maps_dir=maps_dir, max_pixels=max_pixels)

    def preflight() -> None:
        AigenDetector.shared(options.aigen_head).ensure_encoder()  # a missing encoder: one error for the run

    _run(preflight)
    batch = Batch(paths, recursive, analyzers=DETECT_ANALYZERS, options=options, jobs=jobs,
                  keep_maps=fmt == Format.html, quiet=quiet, engine=_eng.EngineChoice(engine, ray_address, shards, workers))
    emit(batch.rows(detect_result), fmt, out, name="detect", table=_table, html=batch.html)
    batch.exit()


def train_aigen_cmd(
    srcs: list[Path] = typer.Argument(..., help="MANIFEST.csv files (relpath,label,...) or folders with real/ and synthetic/ sub-folders."),
    out: Path = typer.Option(..., "--out", "-o", help="Head JSON to write (NPR weights go beside it)."),
    detectors: str = typer.Option("tower,clip-probe,spectral", "--detectors", help="tower[,clip-probe][,spectral] (head format 2), or a subset of clip-probe,rigid,spectral,npr (format 1, one source)."),
    fpr: float = typer.Option(0.01, "--fpr", min=0.0001, max=0.5, help="False-positive rate on real photos for the default threshold."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Feature cache folder (default bench/_work/features in a checkout)."),
    seed: int = typer.Option(0, "--seed"),
    npr_epochs: int = typer.Option(6, "--npr-epochs", min=1),
) -> None:
    """Train the detector head (reproduces the shipped one from the aigen manifest)."""
    from ..detect.heads import DETECTORS
    from ..detect.recipe import DETECTORS as DETECTORS2
    from ..detect.train import train_aigen, train_aigen2

    dets = [d.strip() for d in detectors.split(",") if d.strip()]
    v2 = "tower" in dets
    ok = DETECTORS2 if v2 else DETECTORS
    bad = [d for d in dets if d not in ok]
    if bad or not dets or (not v2 and len(srcs) != 1):
        _err(f"unknown detector(s) {', '.join(bad) or '(none)'}; choose from {', '.join(DETECTORS2)} or {', '.join(DETECTORS)}"
             if bad or not dets else "format-1 detectors take one manifest or folder")
        raise typer.Exit(2)
    cmd = " ".join(["sleuth train aigen", *(shlex.quote(str(s)) for s in srcs), "--out", shlex.quote(str(out)),
                    "--detectors", ",".join(dets), "--fpr", f"{fpr:g}", "--seed", str(seed)]
                   + ([] if v2 else ["--npr-epochs", str(npr_epochs)]))
    if v2:
        head = _run(lambda: train_aigen2(srcs, out, detectors=dets, fpr=fpr, cache_dir=cache, seed=seed, command=cmd, log=_err))
    else:
        head = _run(lambda: train_aigen(srcs[0], out, detectors=dets, fpr=fpr, cache_dir=cache, seed=seed,
                                        npr_epochs=npr_epochs, command=cmd, log=_err))
    o = head["oof"]
    _err(f"wrote {out}: threshold {head['threshold']:.4f} at FPR {fpr:g}; out-of-fold TPR {o['tpr_at_threshold']:.3f}, FPR {o['fpr_at_threshold']:.3f}")


def train_selfconsistency_cmd(
    data: Path = typer.Argument(..., help="The data folder with aigen/real and aigen_modern/real (development half of the hash split is used)."),
    out: Path = typer.Option(..., "--out", "-o", help="Weights file to write (.npz); the packaged one is sleuth/data/forensics/selfconsistency.npz."),
    steps: int = typer.Option(3000, "--steps", min=1, help="Optimiser steps (128 patches each)."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Train the forensic self-consistency embedding on real photos (reproduces the shipped weights)."""
    from ..forensics.sctrain import train_selfconsistency

    if not data.is_dir():
        _err(f"{data}: not a folder")
        raise typer.Exit(2)
    cmd = " ".join(["sleuth train selfconsistency", shlex.quote(str(data)), "--out", shlex.quote(str(out)),
                    "--steps", str(steps), "--seed", str(seed)])
    meta = _run(lambda: train_selfconsistency(data, out, steps=steps, seed=seed, command=cmd, log=_err))
    _err(f"wrote {out}: {meta['photos']} photos, {steps} steps, {meta['seconds']} s")


def enroll_cmd(
    name: str = typer.Argument(..., help="Family name for the new generator."),
    folder: Path = typer.Argument(..., help="Folder of images made by that generator (3 or more)."),
    head: Optional[Path] = typer.Option(None, "--head", help="Head to start from (default: the enrolled user head, else the shipped one)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Head to write (default ~/.cache/sleuth/heads/aigen.json, used by detect)."),
) -> None:
    """Add a generator family for attribution from a folder of its images (nothing else is retrained)."""
    from ..detect.enroll import enroll

    dest, n, failed = _run(lambda: enroll(name, folder, head=head, out=out, log=_err))
    _err(f"enrolled '{name}' from {n} image(s) into {dest}")
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add these commands to the top-level app."""
    app.add_typer(train_app, name="train")
    app.command("detect", help=DETECT_HELP, epilog=epilog("detect"))(detect_cmd)
    train_app.command("aigen")(train_aigen_cmd)
    train_app.command("enroll")(enroll_cmd)
    train_app.command("selfconsistency")(train_selfconsistency_cmd)



def _table(rows: list) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from ..render.text import display

    t = Table(title="sleuth detect")
    for c in ("file", "P(AI)", "verdict", "detectors", "family", "reliability"):
        t.add_column(c, overflow="fold")
    for row in rows:
        r = row.model_dump()
        if r.get("error"):
            t.add_row(escape(display(r["path"])), "", "[red]error[/red]", f"[red]{escape(display(r['error']))}[/red]", "", "")
            continue
        dets = " ".join(f"{k}={v:.2f}" for k, v in r["detectors"].items())
        fam = "" if r["family"] is None else f"{r['family']}" + (f" {r['family_probability']:.2f}" if r["family_probability"] else "")
        rel = r["reliability"]["level"] + (f" ({', '.join(r['reliability']['flags'])})" if r["reliability"]["flags"] else "")
        t.add_row(escape(display(r["path"])), f"{r['probability']:.3f} (thr {r['threshold']:.2f})", r.get("label") or r["verdict"], dets, fam, rel)
    Console().print(t)
