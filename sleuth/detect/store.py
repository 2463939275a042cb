"""What the two feature caches share: atomic ``.npz`` writes and the fill loop.

``dataset.FeatureCache`` (format-1 heads: whole-image views) and ``features.FeatureStore``
(format-2 heads: the tower's crops) cache different features under different keys; both are
filled the same way, one decode per image for all its missing variants, and both write a cache
file atomically (a unique temporary name, then a rename) so that parallel fills never leave a
half-written file.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` atomically (a unique temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.{np.random.default_rng().integers(1 << 30)}.tmp.npz")
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    tmp.replace(path)


class NpzStore:
    """Base of the feature caches: subclasses define ``done(sha, variant)`` and ``get(item, variant, rgb)``."""

    def done(self, sha: str, variant: str) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def get(self, item, variant: str, rgb: np.ndarray | None = None) -> dict[str, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def fill(self, items, variants, progress=None, part: tuple[int, int] = (0, 1)) -> None:
        """Compute every missing (item, variant); ``part=(i, n)`` takes every n-th item from i.

        Parameters
        ----------
        items : sequence
            Anything with ``.path`` and ``.sha256``.
        variants : sequence of str
            The views to cache.
        progress : callable, optional
            Called with (done, total) after each item.
        part : (int, int)
            This process's share of the items, for parallel fills.
        """
        from ..imageio import load_image

        for n, it in enumerate(items):
            if n % part[1] != part[0]:
                continue
            todo = [v for v in variants if not self.done(it.sha256, v)]
            if todo:
                rgb = load_image(it.path).rgb
                for v in todo:
                    self.get(it, v, rgb)
            if progress:
                progress(n + 1, len(items))
