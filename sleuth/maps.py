"""Heatmap files: every command writes maps through :func:`write_maps`, one writer for all.

Design
------
Analyzers attach heatmaps to their evidence as float arrays in [0, 1] (white = suspicious) at
whatever resolution they compute them. :func:`write_maps` writes each one as an 8-bit PNG at
exactly the image's size, upsampled bilinearly in row strips (:func:`write_png_map`) so a
100 MP image never needs a full-size float map, and records the file path in the evidence's
``details["maps"][key]``. File names are ``<stem>.<sha8>.<analyzer>.png`` when the analyzer
has one map, ``<stem>.<sha8>.<analyzer>.<key>.png`` otherwise; every file is written
atomically.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .report import Report


def write_png_map(m: np.ndarray, h: int, w: int, dest: Path, strip: int = 1024) -> None:
    """Write a [0, 1] map as an ``h`` x ``w`` 8-bit PNG, atomically.

    Parameters
    ----------
    m : ndarray
        2-D float map; any size (pixel-centre aligned bilinear upsampling to ``h`` x ``w``).
    h, w : int
        Output size in pixels.
    dest : Path
        PNG file to write.
    strip : int
        Rows upsampled at a time (bounds memory).
    """
    import cv2
    from PIL import Image

    from .util import atomic_path

    m = np.nan_to_num(np.asarray(m, np.float32))
    out = np.empty((h, w), np.uint8)
    if m.shape == (h, w):
        out[:] = np.round(np.clip(m, 0, 1) * 255)
    else:
        sy, sx = m.shape[0] / h, m.shape[1] / w
        xs = ((np.arange(w, dtype=np.float32) + 0.5) * sx - 0.5).clip(0, m.shape[1] - 1)
        for y0 in range(0, h, strip):
            y1 = min(h, y0 + strip)
            ys = ((np.arange(y0, y1, dtype=np.float32) + 0.5) * sy - 0.5).clip(0, m.shape[0] - 1)
            mx, my = np.meshgrid(xs, ys)
            part = cv2.remap(m, mx, my, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            out[y0:y1] = np.round(np.clip(part, 0, 1) * 255)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp:
        Image.fromarray(out, "L").save(tmp, "PNG")


def write_maps(rep: Report, out_dir: Path) -> None:
    """Write every heatmap of ``rep`` as a PNG at the image's size; record paths in details.

    Parameters
    ----------
    rep : Report
        A report whose evidence carries maps (``Evidence.maps``).
    out_dir : Path
        Folder for the PNG files (created).
    """
    stem = Path(rep.path).stem or "image"
    tag = (rep.sha256 or "")[:8]
    for e in rep.evidence:
        if not e.maps:
            continue
        paths = {}
        for k, m in e.maps.items():
            h, w = (rep.height, rep.width) if rep.height and rep.width else m.shape[:2]
            name = f"{stem}.{tag}.{e.analyzer}" + ("" if len(e.maps) == 1 else f".{k}") + ".png"
            dest = Path(out_dir) / name
            write_png_map(m, int(h), int(w), dest)
            paths[k] = str(dest)
        e.details["maps"] = paths
