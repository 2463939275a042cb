"""Leave-one-family-out folds with prompt-disjoint training (the model-selection protocol).

Design
------
* One fold per (AI family, style half). Test rows of fold (f, h): the AI images of family ``f``
  whose half is ``h`` and the real photos assigned to (f, h). Training rows: every other real
  photo, every AI image of another family, except that ``aigen_modern`` images (whose 16 prompts
  recur across all 20 models) of the *same* style half ``h`` are dropped, so neither the family
  nor the prompts of a test image were seen in training.
* Style halves: the 16 styles are split into two fixed halves of 8 (photoreal and artistic
  styles spread over both); an item without a style (the ``aigen`` set) gets its half from its
  sha256. A family whose images are all in one half gets one fold.
* Real photos are spread over the folds stratified by source (film scans, ImageNet, camera,
  thumbnails, ...), so every real photo gets exactly one out-of-fold score. A real source that
  shares its pipeline with one AI family (``PAIRED``: the CNNDetection real thumbnails and the
  CNNDetection GAN crops) is held out together with that family, so the content-matched subset is
  scored by models that saw neither half of it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: fixed split of the aigen_modern styles (photoreal ones alternate between halves)
STYLE_HALF = {
    "Astronaut in diner": 0, "Bear catching fish": 1, "Hypercar": 0, "Lady in Tokyo": 1, "Lady in gown": 0,
    "Lady in rain": 1, "Marble sculptures": 0, "Party yacht": 1, "Postapocalyptic city": 0, "Steampunk city": 1,
    "Yoga studio": 0, "Anime detailed": 1, "Cartoon staircase": 0, "Fantasy city": 1, "Lego Star Wars": 0,
    "Oil canvas": 1,
}


#: real source -> the AI family it was made alongside (same pipeline, same content)
PAIRED = {"aigen/forensynths_thumbs": "gan"}


@dataclass
class Fold:
    family: str
    half: int
    train: np.ndarray  # item indices
    test: np.ndarray


def half_of(item) -> int:
    """Style half of an item (0/1); sha256 parity when it has no known style."""
    if item.style in STYLE_HALF:
        return STYLE_HALF[item.style]
    return int(item.sha256[-1], 16) % 2


def real_source(item) -> str:
    """Real-photo source name used for stratification and per-source FPR (dataset/group)."""
    return f"{item.dataset}/{item.group}" if item.dataset else item.group


def make_folds(items, seed: int = 0) -> list[Fold]:
    """Leave-one-family-out folds (see module docstring).

    Parameters
    ----------
    items : list of Item
        Dataset items (label, family, style, dataset, sha256).
    seed : int
        Seed of the stratified assignment of real photos to folds.

    Returns
    -------
    list of Fold
        Every item appears in exactly one fold's ``test``.
    """
    y = np.asarray([it.label for it in items])
    half = np.asarray([half_of(it) for it in items])
    fam = np.asarray([it.family or "" for it in items])
    modern = np.asarray([it.style in STYLE_HALF for it in items])
    keys = []
    for f in sorted(set(fam[y == 1])):
        for h in sorted(set(half[(y == 1) & (fam == f)])):
            keys.append((f, int(h)))
    slot = np.full(len(items), -1)
    rng = np.random.default_rng(seed)
    by_src: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        if it.label == 0:
            by_src.setdefault(real_source(it), []).append(i)
    start = 0
    for src in sorted(by_src):
        idx = np.asarray(by_src[src])
        rng.shuffle(idx)
        own = [k for k, (f, _) in enumerate(keys) if f == PAIRED.get(src)]
        if own:
            slot[idx] = np.asarray(own)[np.arange(len(idx)) % len(own)]
            continue
        slot[idx] = (start + np.arange(len(idx))) % len(keys)
        start += len(idx)
    for i in range(len(items)):
        if y[i] == 1:
            slot[i] = keys.index((fam[i], int(half[i])))
    folds = []
    for k, (f, h) in enumerate(keys):
        test = np.flatnonzero(slot == k)
        drop = (slot == k) | ((y == 1) & (fam == f)) | ((y == 1) & modern & (half == h))
        folds.append(Fold(f, h, np.flatnonzero(~drop), test))
    return folds
