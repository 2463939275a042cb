"""Generate example images for the demo scan (placeholder; filled by the provenance work)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def make_examples(out: Path) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    p = out / "noise.png"
    Image.fromarray(rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)).save(p)
    return [p]
