"""``sleuth detect`` and ``sleuth train`` (aigen, enroll).

``detect IMG...`` prints one row (table) or one JSON object per image (``--format json``:
path, error, probability, is_ai, fpr_target, detectors, family, family_probability,
reliability, ...). Exit 0 when all images were analysed, 1 when some failed, 2 on usage errors.
``train aigen MANIFEST_OR_DIR --out HEAD`` reproduces the shipped head; ``train enroll NAME DIR``
adds a generator family to a head without retraining anything else.
"""
from __future__ import annotations

import json
import shlex
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer


from ._common import err as _err
from ._common import run_or_exit as _run


class DFmt(str, Enum):
    table = "table"
    json = "json"


DETECT_HELP = "Probability that each image is AI-generated, the decision at the calibrated default FPR, per-detector scores and the generator family."


def register(app: typer.Typer) -> None:
    train_app = typer.Typer(help="Train the AI-image detector head or enrol a generator.", no_args_is_help=True)
    app.add_typer(train_app, name="train")

    @app.command("detect", help=DETECT_HELP)
    def detect_cmd(
        paths: list[Path] = typer.Argument(..., help="Image files or folders."),
        recursive: bool = typer.Option(False, "--recursive", "-r"),
        fmt: DFmt = typer.Option(DFmt.table, "--format", "-f", help="table or json"),
        head: Optional[Path] = typer.Option(None, "--head", envvar="SLEUTH_AIGEN_HEAD", help="Detector head JSON (default: enrolled user head, else shipped)."),
        maps_dir: Optional[Path] = typer.Option(None, "--maps-dir", help="Write the tile score maps as PNGs here."),
        max_pixels: Optional[int] = typer.Option(None, "--max-pixels"),
    ) -> None:
        from ..detect.detector import AigenDetector
        from ..errors import SleuthError
        from ..imageio import iter_image_paths, load_image

        try:
            det = AigenDetector(head)
            det.ensure_encoder()  # a missing encoder is one error for the whole run, not one per file
            files, problems = iter_image_paths(list(paths), recursive=recursive)
        except SleuthError as exc:
            _err(exc)
            raise typer.Exit(1)
        for p, why in problems:
            _err(f"{p}: {why}")
        if not files and not problems:
            _err("no files to analyse")
            raise typer.Exit(2)
        rows, failed = [], len(problems)
        for p, why in problems:
            rows.append({"path": p, "error": why})
        for f in files:
            try:
                img = load_image(f, max_pixels=max_pixels)
                r = det.analyse(img, with_map=maps_dir is not None)
                row = r.to_dict()
                if maps_dir is not None and r.maps:
                    row["maps"] = _write_maps(r, Path(maps_dir), img.sha256)
            except SleuthError as exc:
                failed += 1
                _err(exc)
                row = {"path": f, "error": str(exc)}
            rows.append(row)
        if fmt == DFmt.json:
            sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
        else:
            _table(rows)
        if failed:
            raise typer.Exit(1)

    @train_app.command("aigen")
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

    @train_app.command("enroll")
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



def _write_maps(r, out_dir: Path, sha: str) -> dict:
    """Write the result's maps with the scan pipeline's writer; returns {name: png path}."""
    from ..pipeline import write_maps
    from ..report import Evidence, Report

    ev = Evidence(analyzer="ai-generated", kind="ai-generated").with_maps(r.maps)
    write_maps(Report(path=r.path, sha256=sha, evidence=[ev]), out_dir)
    return ev.details.get("maps", {})


def _table(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title="sleuth detect")
    for c in ("file", "P(AI)", "verdict", "detectors", "family", "reliability"):
        t.add_column(c, overflow="fold")
    for r in rows:
        if r.get("error"):
            t.add_row(str(r["path"]), "", "[red]error[/red]", f"[red]{r['error']}[/red]", "", "")
            continue
        dets = " ".join(f"{k}={v:.2f}" for k, v in r["detectors"].items())
        fam = "" if r["family"] is None else f"{r['family']}" + (f" {r['family_probability']:.2f}" if r["family_probability"] else "")
        rel = r["reliability"]["level"] + (f" ({', '.join(r['reliability']['flags'])})" if r["reliability"]["flags"] else "")
        t.add_row(str(r["path"]), f"{r['probability']:.3f}", r["verdict"], dets, fam, rel)
    Console().print(t)
