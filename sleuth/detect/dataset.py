"""Training/benchmark data: a manifest (or a folder) -> labelled items, and a feature cache.

Design
------
* ``load_items`` reads the aigen ``MANIFEST.csv`` (relpath, label, generator_or_camera_source)
  or walks a folder whose first level is ``real/`` and ``synthetic/`` (or ``fake/``, ``ai/``)
  and whose second level names the source. Paths are never features: the group (second path
  level) is used only to split data (leave-one-generator-out) and for the family label.
* ``FeatureCache`` stores, per file sha256 and protocol variant, the CLIP embedding, the RIGID
  cosine and the spectral features as ``<cache>/<protocol>/<sha[:2]>/<sha>.<variant>.npz``, so
  the dev set is embedded once and format-1 heads are iterated on in seconds (format 2:
  features.py).
"""
from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import protocol, spectral
from .store import NpzStore, save_npz

TRAIN_VARIANTS = ("jpeg90", "aug0", "aug1")
RIGID_VARIANTS = protocol.EVAL_VARIANTS

#: generator folder of the ``aigen`` set -> family (attribution classes and leave-one-family-out
#: folds); ``aigen_modern`` names its family in the manifest. Anything else -> "other-diffusion".
FAMILY_OF = {
    "biggan": "gan", "crn": "gan", "cyclegan": "gan", "gaugan_spade": "gan", "imle": "gan",
    "stargan": "gan", "stylegan1_lsun": "gan", "stylegan2-ada_ffhq": "gan",
    "sd_v1": "stable-diffusion", "sd_v2_512base": "stable-diffusion", "sd_v2_768v": "stable-diffusion",
    "sd1.x": "stable-diffusion", "sd1.x-finetune": "stable-diffusion", "sd2.x-finetune": "stable-diffusion",
    "sdxl": "sdxl",
    "dalle2": "dall-e",
    "ldm_txt2img_256": "ldm", "kandinsky3": "kandinsky", "stable-cascade": "stable-cascade",
}
REAL_WORDS = {"real", "reals", "photo", "photos", "camera", "0_real"}
FAKE_WORDS = {"synthetic", "fake", "fakes", "ai", "generated", "1_fake"}


@dataclass
class Item:
    path: Path
    label: int  # 1 = AI-generated
    group: str  # source folder (generator or photo set)
    family: str | None  # attribution family for synthetic items
    fmt: str = ""
    width: int = 0
    height: int = 0
    nbytes: int = 0
    style: str = ""  # aigen_modern prompt style (content-matched checks only, never a feature)
    dataset: str = ""  # name of the folder holding the manifest (e.g. aigen, aigen_modern)

    @property
    def sha256(self) -> str:
        if not hasattr(self, "_sha"):
            self._sha = hashlib.sha256(self.path.read_bytes()).hexdigest()
        return self._sha


def family_of(group: str) -> str:
    return FAMILY_OF.get(group, "other-diffusion")


def manifest_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_items(src: str | Path) -> tuple[list[Item], str]:
    """Items from a MANIFEST.csv or a folder; returns (items, description with sha256)."""
    from ..errors import UsageError

    src = Path(src)
    items: list[Item] = []
    if src.is_file():
        root = src.parent
        with open(src, newline="") as fh:
            for row in csv.DictReader(fh):
                rel = row["relpath"]
                lab = row["label"].strip().lower()
                if lab not in ("real", "synthetic", "fake", "ai"):
                    raise UsageError(f"{src}: unknown label {row['label']!r} for {rel}")
                parts = Path(rel).parts
                group = parts[1] if len(parts) > 2 else parts[0]
                y = 0 if lab == "real" else 1
                fam = (row.get("family") or "").strip() or family_of(group)
                fmt = row.get("format") or Path(rel).suffix.lstrip(".").upper().replace("JPG", "JPEG")
                it = Item(root / rel, y, group, fam if y else None, fmt,
                          int(row.get("width") or 0), int(row.get("height") or 0), int(row.get("bytes") or 0),
                          style=row.get("style") or "", dataset=root.name)
                if row.get("sha256"):
                    it._sha = row["sha256"]
                items.append(it)
        return items, f"manifest {src} sha256 {manifest_sha256(src)}"
    if not src.is_dir():
        raise UsageError(f"{src}: no such manifest or folder")
    for top in sorted(p for p in src.iterdir() if p.is_dir()):
        word = top.name.lower()
        if word in REAL_WORDS:
            y = 0
        elif word in FAKE_WORDS:
            y = 1
        else:
            continue
        for f in sorted(top.rglob("*")):
            if f.is_file() and not f.name.startswith("."):
                rel = f.relative_to(top).parts
                group = rel[0] if len(rel) > 1 else top.name
                items.append(Item(f, y, group, family_of(group) if y else None))
    if not items or len({i.label for i in items}) < 2:
        raise UsageError(f"{src}: need a real/ and a synthetic/ (or fake/) sub-folder with images")
    h = hashlib.sha256("\n".join(f"{i.path.relative_to(src)} {i.label} {i.sha256}" for i in items).encode()).hexdigest()
    return items, f"folder {src} listing sha256 {h}"


class FeatureCache(NpzStore):
    """Per (sha256, variant) features: emb (512), tok (1536, float16), embn/tokn (native-crop view),
    rigid (cosine, eval variants), spec (44)."""

    def __init__(self, root: str | Path, backbone=None, use_clip: bool = True):
        self.root = Path(root) / protocol.PROTOCOL_VERSION
        self._backbone = backbone
        self.use_clip = use_clip

    @property
    def backbone(self):
        if self._backbone is None:
            from .backbone import ClipBackbone

            self._backbone = ClipBackbone.shared()
        return self._backbone

    def _file(self, sha: str, variant: str) -> Path:
        return self.root / sha[:2] / f"{sha}.{variant}.npz"

    def get(self, item: Item, variant: str, rgb: np.ndarray | None = None) -> dict[str, np.ndarray]:
        f = self._file(item.sha256, variant)
        if f.is_file():
            with np.load(f) as z:
                d = {k: z[k] for k in z.files}
            if not self.use_clip or all(k in d for k in ("emb", "tok", "embn", "tokn")):
                return d
        else:
            d = {}
        if rgb is None:
            from ..imageio import load_image

            rgb = load_image(item.path).rgb
        x = protocol.apply(rgb, variant, key=item.sha256)
        if "spec" not in d:
            d["spec"] = spectral.features(x)
        if self.use_clip:
            if variant in RIGID_VARIANTS and "rigid" not in d:
                e, en = self.backbone.rigid_pair(x)
                d["emb"], d["rigid"] = e, np.float32(1.0 - float(e @ en))
            if "tok" not in d:
                e, tok = self.backbone.embed_tokens(x)
                d["emb"], d["tok"] = e, tok.astype(np.float16)
            if "tokn" not in d:
                from .backbone import native_unit

                e, tok = self.backbone.embed_tokens_unit(native_unit(x))
                d["embn"], d["tokn"] = e, tok.astype(np.float16)
        save_npz(f, d)
        return d

    def done(self, sha: str, variant: str) -> bool:
        f = self._file(sha, variant)
        if not f.is_file():
            return False
        if not self.use_clip:
            return True
        with np.load(f) as z:
            return "tokn" in z.files

    def matrix(self, items: list[Item], variant: str, key: str) -> np.ndarray:
        return np.stack([np.asarray(self.get(it, variant)[key], np.float32).reshape(-1) for it in items])


def load_many(sources) -> tuple[list[Item], list[str]]:
    """Items of several manifests/folders, concatenated; returns (items, one description per source)."""
    items, descs = [], []
    for s in sources:
        it, d = load_items(s)
        items += it
        descs.append(d)
    return items, descs
