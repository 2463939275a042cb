"""``sleuth forensics IMG... --out DIR``: forensic heatmaps as PNGs, integrity scores, scaling attacks.

Design
------
Batch and scriptable (what Forensically, FotoForensics and Sherloq are not): every input is
loaded once with :func:`sleuth.imageio.load_image`, the forensic analyzers run (results cached
per image, see :mod:`sleuth.forensics.evidence`) and each heatmap is written as an 8-bit PNG
at exactly the image's size (white = manipulated), upsampled in row strips so a 100 MP image
never needs a full-size float map. ``--format json`` prints one JSON list: per image ``path``,
``error``, ``score`` (integrity, higher = more likely manipulated), ``maps`` (analyzer -> PNG,
including ``fused``) and ``scaling_attack`` ({detected, score}), plus per-analyzer details.
Measured: a 24 MP JPEG takes 13 s of CPU (0.55 s/MP, all analyzers, loading and PNGs
included) with a peak RSS of 547 MB. Exit codes: 0 all inputs analysed, 1 some failed (the rest still reported), 2 usage error.
"""
from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import numpy as np
import typer


class FFmt(str, Enum):
    table = "table"
    json = "json"


from ._common import err as _err
from ._common import expand_inputs


def write_png_map(m: np.ndarray, h: int, w: int, dest: Path, strip: int = 1024) -> None:
    """Write a [0,1] map as an HxW 8-bit PNG (bilinear upsampling in row strips), atomically."""
    import cv2
    from PIL import Image

    from ..util import atomic_path

    m = np.asarray(m, np.float32)
    out = np.empty((h, w), np.uint8)
    if m.shape == (h, w):
        out[:] = np.round(np.clip(m, 0, 1) * 255)
    else:
        # map the source grid onto the output with pixel-centre alignment, one strip at a time
        sy, sx = m.shape[0] / h, m.shape[1] / w
        xs = ((np.arange(w, dtype=np.float32) + 0.5) * sx - 0.5).clip(0, m.shape[1] - 1)
        for y0 in range(0, h, strip):
            y1 = min(h, y0 + strip)
            ys = ((np.arange(y0, y1, dtype=np.float32) + 0.5) * sy - 0.5).clip(0, m.shape[0] - 1)
            mx, my = np.meshgrid(xs, ys)
            part = cv2.remap(m, mx, my, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            out[y0:y1] = np.round(np.clip(part, 0, 1) * 255)
    with atomic_path(dest) as tmp:
        Image.fromarray(out, "L").save(tmp, "PNG")


def forensics_one(path: str, out_dir: Path, options: dict) -> dict:
    from ..errors import SleuthError
    from ..forensics.evidence import analyze_image, fused_evidence, to_evidence
    from ..analyzers import ScanContext
    from ..imageio import load_image

    row: dict = {"path": path, "error": None, "score": None, "verdict": None, "maps": {}, "scaling_attack": None,
                 "analyzers": {}}
    try:
        img = load_image(path, max_pixels=options.get("max_pixels"))
    except SleuthError as exc:
        row["error"] = str(exc)
        return row
    ctx = ScanContext(options=options)
    results = analyze_image(img, ctx)
    fused = fused_evidence(img, ctx)
    row["score"] = fused.score
    row["verdict"] = fused.verdict
    row["scaling_attack"] = fused.details.get("scaling_attack")
    stem = Path(path).stem or "image"
    tag = img.sha256[:8]
    h, w = img.height, img.width
    for name, r in results.items():
        ev = to_evidence(r, img)
        row["analyzers"][name] = {"verdict": ev.verdict, "score": ev.score, "reason": r.reason,
                                  "raw_score": ev.details.get("raw_score"), "seconds": round(r.seconds, 3)}
        if r.status == "ok" and r.heat is not None and name != "scaling-attack":
            dest = out_dir / f"{stem}.{tag}.{name}.png"
            write_png_map(r.heat, h, w, dest)
            row["maps"][name] = str(dest)
    if "fused" in fused.maps:
        dest = out_dir / f"{stem}.{tag}.fused.png"
        write_png_map(fused.maps["fused"], h, w, dest)
        row["maps"]["fused"] = str(dest)
    return row


def _parse_sizes(text: Optional[str]):
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
    @app.command("forensics")
    def forensics_cmd(
        paths: list[Path] = typer.Argument(..., help="Image files or folders."),
        out: Path = typer.Option(..., "--out", "-o", help="Folder for the heatmap PNGs (created)."),
        fmt: FFmt = typer.Option(FFmt.table, "--format", "-f", help="table or json."),
        recursive: bool = typer.Option(False, "--recursive", "-r", help="Descend into sub-folders."),
        scaling_size: Optional[str] = typer.Option(None, "--scaling-size",
                                                   help="Model input size(s) to check for scaling attacks, e.g. 224 or 224x224,256."),
        max_pixels: Optional[int] = typer.Option(None, "--max-pixels", help="Refuse images above this many pixels."),
    ) -> None:
        """Forensic heatmaps (ELA, noise, JPEG ghost/double quantisation, copy-move, resampling), fused map,
        integrity score and image-scaling attack check; one PNG per map in --out."""

        try:
            sizes = _parse_sizes(scaling_size)
        except ValueError as exc:
            _err(f"--scaling-size: {exc}")
            raise typer.Exit(2)
        if out.exists() and not out.is_dir():
            _err(f"{out}: --out must be a folder")
            raise typer.Exit(2)
        files, problems = expand_inputs(list(paths), recursive)
        options = {"scaling_sizes": sizes, "max_pixels": max_pixels}
        rows = [{"path": p, "error": why, "score": None, "verdict": None, "maps": {}, "scaling_attack": None,
                 "analyzers": {}} for p, why in problems]
        for f in files:
            try:
                row = forensics_one(f, out, options)
            except Exception as exc:  # one file never stops the batch
                row = {"path": f, "error": f"{f}: internal error ({type(exc).__name__}: {exc})", "score": None,
                       "verdict": None, "maps": {}, "scaling_attack": None, "analyzers": {}}
            if row["error"]:
                _err(row["error"])
            rows.append(row)
        # report in the order the inputs were given (missing inputs where they were named)
        args_ = [str(p) for p in paths]

        def _rank(row):
            path = row["path"]
            for i, a in enumerate(args_):
                if path == a or path.startswith(a.rstrip("/") + "/"):
                    return i
            return len(args_)

        rows.sort(key=_rank)
        if fmt == FFmt.json:
            from ..util import to_jsonable

            sys.stdout.write(json.dumps(to_jsonable(rows), indent=2, ensure_ascii=False) + "\n")
        else:
            from rich.console import Console
            from rich.table import Table

            t = Table(title="sleuth forensics")
            for c in ("file", "verdict", "score", "scaling attack", "fired", "maps"):
                t.add_column(c, overflow="fold")
            for r in rows:
                if r["error"]:
                    t.add_row(r["path"], "[red]error[/red]", "", "", r["error"], "")
                    continue
                fired = [n for n, a in r["analyzers"].items() if a["verdict"] in ("manipulated", "scaling-attack")]
                sa = r["scaling_attack"] or {}
                t.add_row(r["path"], str(r["verdict"]), "" if r["score"] is None else f"{r['score']:.3f}",
                          "yes" if sa.get("detected") else "no", ", ".join(fired), str(len(r["maps"])))
            Console().print(t)
        if any(r["error"] for r in rows):
            raise typer.Exit(1)
