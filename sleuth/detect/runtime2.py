"""Inference with a ``sleuth-aigen-head/2`` head (see detector.py for the pipeline and bands)."""
from __future__ import annotations

import numpy as np

from . import calibration as cal
from . import heads, probe, reliability, spectral, views


def _weights(head: dict) -> tuple[np.ndarray, float]:
    t = head["detectors"]["tower"]
    if "_w" not in t:
        t["_w"] = np.asarray(t["w"], np.float32).reshape(12, 2, 768)
    return t["_w"], float(t["b"])


def raw_logits(head: dict, tower, region: np.ndarray) -> tuple[dict, np.ndarray, np.ndarray, list]:
    """Per-detector image logits, per-crop tower logits, mean crop projection, crop boxes."""
    n = int(head.get("crops", 2))
    cr = views.crops(region, n)
    enc = [tower.encode(c) for c in cr]
    d = head["detectors"]
    out = {}
    w, b = _weights(head)
    crop_lg = probe.crop_logits(w, b, np.stack([e["blocks"] for e in enc]))
    out["tower"] = float(crop_lg.mean())
    E = np.stack([e["emb"] for e in enc])
    if "clip-probe" in d:
        out["clip-probe"] = float(cal.apply_logistic(d["clip-probe"]["linear"], E).mean())
    if "spectral" in d:
        out["spectral"] = float(cal.apply_logistic(d["spectral"]["linear"], spectral.features(region)[None])[0])
    x = views.pad_to(region)
    boxes = views.crop_boxes(x.shape[0], x.shape[1], n)
    return out, crop_lg, attribution_vector(head, E, np.stack([e["blocks"] for e in enc])), boxes


def attribution_vector(head: dict, E: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """The image's vector in the head's attribution space (tower patch tokens, or the projection)."""
    from .recipe import attr_vectors, image_vector

    cfg = head.get("attribution", {})
    if cfg.get("space") == "patch-tokens":
        return image_vector(attr_vectors(blocks, cfg))
    return image_vector(E)


def fuse(head: dict, raw: dict) -> float:
    """Fused calibrated probability from the detectors' raw logits."""
    fu = head["fusion"]
    z = float(fu["b"]) + sum(float(wi) * raw[nm] for nm, wi in zip(fu["detectors"], fu["w"], strict=False))
    return float(cal.sigmoid(z))


def tile_map(head: dict, region_hw, crop_lg: np.ndarray, boxes) -> np.ndarray:
    """Calibrated tower probability of each crop painted over its window (mean where they overlap)."""
    H, W = max(region_hw[0], views.CROP), max(region_hw[1], views.CROP)
    acc, cnt = np.zeros((H, W), np.float32), np.zeros((H, W), np.float32)
    p = cal.apply_platt(crop_lg, head["detectors"]["tower"]["platt"])
    for (y, x), v in zip(boxes, p, strict=False):
        acc[y:y + views.CROP, x:x + views.CROP] += v
        cnt[y:y + views.CROP, x:x + views.CROP] += 1
    return acc / np.maximum(cnt, 1)


def analyse(det, img, with_map: bool = True):
    """One loaded image -> DetectResult (head format 2)."""
    from .detector import DetectResult

    head = det.head
    region = views.analysed(img.rgb)
    raw, crop_lg, emb, boxes = raw_logits(head, det.tower, region)
    prob = fuse(head, raw)
    thr = float(head["threshold"])
    thr_low = head.get("threshold_low")
    dets = {k: float(cal.apply_platt(v, head["detectors"][k]["platt"])) for k, v in raw.items()}
    fired = [k for k, v in dets.items() if v > float(head["detectors"][k].get("threshold", 0.5))]
    rel = reliability.assess(img)
    spread = float(crop_lg.std())
    rel["crop_disagreement"] = round(spread, 4)
    if len(crop_lg) > 1 and spread > float(head.get("crop_disagreement", np.inf)):
        rel["flags"].append("crop-disagreement")  # only turns a positive decision into "uncertain"
    fam, fp, sims = heads.attribute(head, emb)
    is_ai = prob > thr
    low = rel["level"] == "low" or (is_ai and bool(rel["flags"]))
    verdict = "uncertain" if low else ("likely-ai" if is_ai else "no-evidence")
    band = reliability.band(prob, thr, None if thr_low is None else float(thr_low), rel, min(img.width, img.height))
    maps = {}
    if with_map:
        maps["ai-tiles"] = _place(img.rgb.shape[:2], region.shape[:2], tile_map(head, region.shape[:2], crop_lg, boxes))
    return DetectResult(path=img.path, probability=prob, is_ai=is_ai, fpr_target=float(head.get("fpr_target", 0.01)),
                        threshold=thr, detectors=dets, fired=fired, family=fam if is_ai else None,
                        family_probability=fp if is_ai else None, family_similarity=sims, reliability=rel,
                        verdict=verdict, maps=maps, band=band,
                        threshold_low=None if thr_low is None else float(thr_low),
                        crop_scores=[float(cal.apply_platt(c, head["detectors"]["tower"]["platt"])) for c in crop_lg])


def _place(full_hw, region_hw, m: np.ndarray) -> np.ndarray:
    """The region's map placed over the image's analysed centre (zero outside), at most 512 px."""
    import cv2

    H, W = full_hw
    rh, rw = region_hw
    m = m[:max(rh, 1), :max(rw, 1)] if rh >= views.CROP and rw >= views.CROP else cv2.resize(m, (rw, rh), interpolation=cv2.INTER_AREA)
    scale = min(1.0, 512 / max(H, W))
    canvas = np.zeros((max(1, int(H * scale)), max(1, int(W * scale))), np.float32)
    y0, x0 = int((H - rh) // 2 * scale), int((W - rw) // 2 * scale)
    th, tw = max(1, int(rh * scale)), max(1, int(rw * scale))
    part = cv2.resize(m, (tw, th), interpolation=cv2.INTER_NEAREST)
    canvas[y0:y0 + th, x0:x0 + tw] = part[:canvas.shape[0] - y0, :canvas.shape[1] - x0]
    return canvas
