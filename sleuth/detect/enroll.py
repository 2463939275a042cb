"""``sleuth train enroll NAME DIR``: open-set attribution learns a new generator family.

The family is one unit centroid of the CLIP embeddings of the folder's images (format-2 heads: the
projections of the head's native crops of the clean view and of the augmented copy; format-1
heads: protocol jpeg90 plus the two augmented copies) and an open-set radius (5th percentile of leave-one-out member
cosines minus 0.02). The detector's heads, calibration and threshold are untouched, so
detection results do not change; only attribution gains a class.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import heads, protocol
from .dataset import TRAIN_VARIANTS

MIN_IMAGES = 3


def enroll(name: str, folder: str | Path, head: str | Path | None = None, out: str | Path | None = None,
           log=None) -> tuple[Path, int, int]:
    """Returns (written head path, images used, images that failed to load)."""
    from ..errors import SleuthError, UsageError
    from ..imageio import iter_image_paths, load_image
    from .backbone import ClipBackbone
    from .detector import SHIPPED_HEAD, default_head_path, user_head_path

    name = name.strip()
    if not name or name == "unknown":
        raise UsageError("family name must be non-empty and not 'unknown'")
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder")
    src = Path(head) if head else default_head_path()
    h = heads.load(src)
    files, _ = iter_image_paths([folder], recursive=True)
    v2 = h.get("format") == heads.FORMAT2
    bb = None if v2 else ClipBackbone.shared()
    store: Any = None
    if v2:
        from . import views
        from .features import FeatureStore

        store = FeatureStore()
    E: list = []
    used, failed = 0, 0
    for f in files:
        try:
            rgb = load_image(f).rgb
        except SleuthError as exc:
            failed += 1
            if log:
                log(exc)
            continue
        key = __import__("hashlib").sha256(rgb.tobytes()).hexdigest()
        if v2:  # the head's own crops, augmentation and attribution space
            from .recipe import attr_vectors

            for v in views.TRAIN_VARIANTS:
                feats = store.compute(rgb, v, key)
                cfg = h.get("attribution", {})
                E.extend(attr_vectors(feats["blocks"], cfg) if cfg.get("space") == "patch-tokens" else feats["emb"])
            used += 1
            continue
        assert bb is not None  # v1 heads embed with the CLIP backbone
        for v in TRAIN_VARIANTS:
            E.append(bb.embed(protocol.apply(rgb, v, key=key)))
        used += 1
    if used < MIN_IMAGES:
        raise UsageError(f"{folder}: need at least {MIN_IMAGES} readable images to enrol '{name}', found {used}")
    fam = h.setdefault("families", {})
    fam[name] = heads.family_entry(np.stack(E), n_items=used)
    fam[name]["enrolled_from"] = str(folder)
    dest = Path(out) if out else user_head_path()
    nd = h["detectors"].get("npr")
    if nd and nd.get("weights") and dest.parent != src.parent:  # keep NPR weights resolvable
        w = src.parent / nd["weights"]
        if not w.is_file():
            w = SHIPPED_HEAD.parent / nd["weights"]
        nd["weights"] = str(w.resolve())
    heads.save(h, dest)
    return dest, used, failed
