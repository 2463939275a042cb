"""Runtime: one image -> calibrated probability, decision band, per-detector scores, family, map.

Design
------
``AigenDetector`` loads a head (``--head`` / ``SLEUTH_AIGEN_HEAD`` / the user head written by
``sleuth train enroll`` in ``~/.cache/sleuth/heads/aigen.json`` / the shipped
``sleuth/data/heads/aigen.json``, in that order) and the CLIP encoder from the model registry.

Heads of format 2 (the shipped one, recipe.py): the image is decoded to RGB (greyscale, alpha,
16-bit, CMYK and palette images are converted by sleuth.imageio), its centre region of at most
512x512 px is taken without resizing (a fixed memory and time budget whatever the image size) and
re-encoded as JPEG 90 (views.analysed); ``crops`` native-resolution 224 px crops of it go through
ONE forward each of the CLIP tower. Per crop: the ``tower`` probe logit (all block tokens) and the
``clip-probe`` logit (projection); per region: the ``spectral`` logit. The image logit of a probe is
the mean over crops; their spread is the crop disagreement. The fused logit (stacking) is the
calibrated probability. Tile map ``ai-tiles``: each crop's calibrated tower probability over its
window. Heads of format 1 (v0.1: resized view + native crop + RIGID, NPR) still run unchanged.

Bands (``band``): ``not-enough-signal`` (shorter side under 64 px), ``likely-ai`` (probability above
``threshold``, no reliability flag), ``uncertain`` (above ``threshold`` with a flag, or between
``threshold_low`` and ``threshold``), ``no-ai-signal`` (at or below ``threshold_low``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import calibration as cal
from . import heads, npr, protocol, reliability, spectral

SHIPPED_HEAD = Path(__file__).resolve().parents[1] / "data" / "heads" / "aigen.json"


def user_head_path() -> Path:
    from ..models import cache_dir

    return cache_dir() / "heads" / "aigen.json"


def default_head_path() -> Path:
    from ..settings import get_settings

    env = get_settings().aigen_head
    if env:
        return Path(env)
    u = user_head_path()
    return u if u.is_file() else SHIPPED_HEAD


@dataclass
class DetectResult:
    path: str
    probability: float
    is_ai: bool
    fpr_target: float
    threshold: float
    detectors: dict[str, float]
    fired: list[str]
    family: str | None
    family_probability: float | None
    family_similarity: dict[str, float]
    reliability: dict[str, Any]
    verdict: str
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    error: str | None = None
    band: str = ""
    threshold_low: float | None = None
    crop_scores: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "error": self.error, "probability": round(self.probability, 6),
                "is_ai": self.is_ai, "verdict": self.verdict, "fpr_target": self.fpr_target,
                "threshold": round(self.threshold, 6),
                "detectors": {k: round(v, 6) for k, v in self.detectors.items()}, "fired": self.fired,
                "family": self.family, "family_probability": None if self.family_probability is None else round(self.family_probability, 4),
                "family_similarity": self.family_similarity, "reliability": self.reliability,
                "band": self.band, "threshold_low": None if self.threshold_low is None else round(self.threshold_low, 6),
                "crop_scores": [round(c, 4) for c in self.crop_scores]}


class AigenDetector:
    _cache: dict[str, AigenDetector] = {}

    def __init__(self, head_path: str | os.PathLike | None = None, model_path: str | None = None, tower=None):
        self.head_path = Path(head_path) if head_path else default_head_path()
        self.head = heads.load(self.head_path)
        self.model_path = model_path
        self._backbone = None
        self._tower = tower  # a ClipTower of the caller's (default: the shared one, built on first use)
        self.npr_weights = None
        nd = self.head["detectors"].get("npr")
        if nd and nd.get("weights"):
            wp = self.head_path.parent / nd["weights"]
            if not wp.is_file():
                wp = SHIPPED_HEAD.parent / nd["weights"]
            if wp.is_file():
                self.npr_weights = npr.load_weights(wp)

    @classmethod
    def shared(cls, head_path=None) -> AigenDetector:
        key = str(head_path or default_head_path())
        if key not in cls._cache:
            cls._cache[key] = cls(head_path)
        return cls._cache[key]

    @property
    def backbone(self):
        if self._backbone is None:
            from .backbone import ClipBackbone

            self._backbone = ClipBackbone(self.model_path) if self.model_path else ClipBackbone.shared()
        return self._backbone

    @property
    def v2(self) -> bool:
        return self.head.get("format") == heads.FORMAT2

    @property
    def tower(self):
        if self._tower is None:
            from .tower import ClipTower

            self._tower = ClipTower(self.model_path) if self.model_path else ClipTower.shared()
        return self._tower

    @property
    def needs_clip(self) -> bool:
        d = self.head["detectors"]
        return self.v2 or "clip-probe" in d or "rigid" in d or bool(self.head.get("families"))

    def ensure_encoder(self) -> None:
        """Load the encoder now (a missing model is one error for a whole run)."""
        if self.v2:
            _ = self.tower  # the property loads the model
        elif self.needs_clip:
            _ = self.backbone

    @property
    def fpr_target(self) -> float:
        return float(self.head.get("fpr_target", 0.01))

    def features(self, rgb: np.ndarray) -> tuple[dict, np.ndarray | None, np.ndarray]:
        """Protocol image features; returns (feats with one row, NPR logit map, protocol image)."""
        x = protocol.apply(rgb, "jpeg90")
        d = self.head["detectors"]
        feats: dict[str, Any] = {}
        if self.needs_clip:
            o = self.backbone.full(x)
            feats.update({k: o[k][None] for k in ("emb", "tok", "embn", "tokn")})
            feats["rigid"] = np.array([1.0 - float(o["emb"] @ o["noisy"])])
        if "spectral" in d:
            feats["spec"] = spectral.features(x)[None]
        m = None
        if self.npr_weights is not None:
            s, m = npr.score(self.npr_weights, x)
            feats["npr"] = np.array([s])
        return feats, m, x

    def analyse(self, img, with_map: bool = True) -> DetectResult:
        if self.v2:
            from . import runtime2

            return runtime2.analyse(self, img, with_map=with_map)
        if min(img.height, img.width) < 2:  # the NPR convolutions need two pixels a side
            from ..errors import SleuthError

            raise SleuthError(f"image is {img.width}x{img.height}: too small for the AI-generation detectors "
                              "(at least 2 pixels a side)", img.path)
        feats, m, x = self.features(img.rgb)
        pred = heads.predict(self.head, feats)
        prob = float(pred["fused"][0])
        thr = float(self.head["threshold"])
        det = {k: float(v[0]) for k, v in pred["probs"].items()}
        fired = [k for k, v in det.items() if v > float(self.head["detectors"][k].get("threshold", 0.5))]
        sims: dict = {}
        fam, fp = "unknown", None
        if "emb" in feats:
            fam, fp, sims = heads.attribute(self.head, feats["emb"][0])
        rel = reliability.assess(img)
        is_ai = prob > thr
        verdict = "uncertain" if rel["level"] == "low" else ("likely-ai" if is_ai else "no-evidence")
        band = reliability.band(prob, thr, None, rel, min(img.width, img.height))
        maps = {}
        if with_map and m is not None:
            maps["ai-tiles"] = self._place(img.rgb.shape[:2], x.shape[:2], m)
        return DetectResult(path=img.path, probability=prob, is_ai=is_ai, fpr_target=self.fpr_target, threshold=thr,
                            detectors=det, fired=fired, family=fam if is_ai else None,
                            family_probability=fp if is_ai else None, family_similarity=sims,
                            reliability=rel, verdict=verdict, maps=maps, band=band)

    def _place(self, full_hw, crop_hw, m: np.ndarray) -> np.ndarray:
        """Calibrated NPR tile map, resized onto the analysed centre crop of the full image."""
        import cv2

        p = cal.apply_platt(m, self.head["detectors"]["npr"]["platt"]).astype(np.float32)
        H, W = full_hw
        ch, cw = crop_hw
        scale = min(1.0, 512 / max(H, W))
        canvas = np.zeros((max(1, int(H * scale)), max(1, int(W * scale))), np.float32)
        y0, x0 = int((H - ch) // 2 * scale), int((W - cw) // 2 * scale)
        th, tw = max(1, int(ch * scale)), max(1, int(cw * scale))
        canvas[y0:y0 + th, x0:x0 + tw] = cv2.resize(p, (tw, th), interpolation=cv2.INTER_NEAREST)[:canvas.shape[0] - y0, :canvas.shape[1] - x0]
        return canvas


def detect(source, head: str | os.PathLike | None = None, with_map: bool = False) -> DetectResult:
    """Public API: ``sleuth.detect.detect("img.jpg").probability``."""
    from ..imageio import load_image

    img = source if hasattr(source, "rgb") else load_image(source)
    return AigenDetector.shared(head).analyse(img, with_map=with_map)
