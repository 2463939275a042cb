"""Training of the self-consistency embedding (:mod:`.selfconsistency`) on real photos, with torch on CPU.

Design
------
* Photos: the real photos of the data folder (aigen/real: BSDS500, Kodak, Urban100, camera
  JPEGs; aigen_modern/real: ImageNet, camera crops) of the *development* half of the hash
  split that bench/forensics.py uses (:func:`host_split`), so no test host photo is ever seen.
  Of those, only half (split "embedding") train the embedding; the other half is
  never seen by it, so the stacked decision, fitted on all development hosts, sees both.
  Each is read at its own pixels (no resizing; a centre crop to <= 512 px on 8 px offsets so
  the photo's own JPEG grid stays aligned).
* A "source" is one photo through one pipeline. Per step, 16 photos each give two sources:
  two different random pipelines drawn from
  {as is, JPEG at 50-98 on a random grid offset, double JPEG, upsampling x1.1-2, added noise,
  Gaussian blur, a tone change (gamma, per-channel gain); the last four followed by a JPEG half
  of the time}, then one common final JPEG (quality 70-95, aligned, 80% of steps) as a
  spliced picture gets when it is saved. Each source is seen at the same four random places of
  the photo (48 px regions on the photo's 8 px grid, each through the same pipeline parameters,
  the central 32 px kept): positives span the whole photo (sky and foliage of one picture must
  agree, as the scan compares every window with the whole image) and the two sources share
  their content exactly. The supervised contrastive loss (temperature 0.1) pulls patches of the same source together and
  pushes all others away, including the same photo's other pipeline: content cannot solve it.
* Adam (lr 2e-3, cosine decay), fixed seeds for numpy and torch, one torch thread: the run is
  reproducible on this CPU (``sleuth train selfconsistency``); the weights are written as a
  small ``.npz`` with the command and the photo count, read by NumPy at scan time.
"""
from __future__ import annotations

import hashlib
import io
import json
import time
from pathlib import Path

import numpy as np

from .selfconsistency import CELL, HEAD, PATCH, TRUNK, residual

REAL_DIRS = ("aigen/real/bsds500", "aigen/real/kodak24", "aigen/real/urban100", "aigen/real/camera_jpeg_metadata-extractor",
             "aigen_modern/real/imagenet", "aigen_modern/real/camera")
REGION = 48  # a patch with an 8 px margin (pipeline edge effects stay outside the patch)
MIN_SIDE = 112
CROP_SIDE = 512
WIDTHS = (8, 16, 32, 32)
EMBED = 16
TEMPERATURE = 0.1
N_KINDS = 7


def host_split(relpath: str) -> str:
    """Which split a photo belongs to, from a hash of its path relative to the data root.

    "test" (odd hash: the test hosts of bench/forensics.py), else the development split, of
    which "embedding" (the next bit even) trains the embedding and "dev" is never seen by it,
    so the stacked decision (fitted on all development hosts) and any check of the model see
    photos it was not trained on.

    Parameters
    ----------
    relpath : str
        Photo path relative to the data root.

    Returns
    -------
    str
        "test", "embedding" or "dev".
    """
    h = int(hashlib.sha256(relpath.encode()).hexdigest(), 16)
    return "test" if h % 2 else ("embedding" if (h >> 1) % 2 == 0 else "dev")


def training_photos(data: str | Path) -> list[Path]:
    """The embedding's training photos under the data root ``data`` (:func:`host_split` "embedding").

    Parameters
    ----------
    data : str or Path
        The shared data folder (with aigen/ and aigen_modern/).

    Returns
    -------
    list of Path

    Raises
    ------
    UsageError
        When the folder holds none of those photos.
    """
    root = Path(data)
    out = []
    for sub in REAL_DIRS:
        out += sorted(p for p in (root / sub).glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")
                      and host_split(str(p.relative_to(root))) == "embedding")
    if not out:
        from ..errors import UsageError

        raise UsageError(f"{root}: no development real photos under {', '.join(REAL_DIRS)}")
    return out


def _read(p: Path) -> np.ndarray | None:
    from PIL import Image

    rgb = np.asarray(Image.open(p).convert("RGB"))
    h, w = rgb.shape[:2]
    y0, x0 = max(0, (h - CROP_SIDE) // 2) // 8 * 8, max(0, (w - CROP_SIDE) // 2) // 8 * 8
    rgb = rgb[y0: y0 + CROP_SIDE, x0: x0 + CROP_SIDE]
    return np.ascontiguousarray(rgb) if min(rgb.shape[:2]) >= MIN_SIDE else None


def _jpeg(rgb: np.ndarray, q: int, dy: int = 0, dx: int = 0) -> np.ndarray:
    """JPEG round trip at quality ``q`` with the 8x8 grid shifted by (dy, dx)."""
    from PIL import Image

    x = np.pad(rgb, ((dy, 0), (dx, 0), (0, 0)), mode="reflect") if dy or dx else rgb
    buf = io.BytesIO()
    Image.fromarray(x).save(buf, "JPEG", quality=int(q))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))[dy:, dx:]


def pipeline(region: np.ndarray, rng: np.random.Generator, kind: int) -> np.ndarray:
    """One processing history applied to an RGB region (output the same size)."""
    import cv2

    h, w = region.shape[:2]
    off = lambda: (int(rng.integers(0, 8)), int(rng.integers(0, 8))) if rng.random() < 0.7 else (0, 0)  # noqa: E731
    if kind == 0:
        return region
    if kind == 1:
        return _jpeg(region, int(rng.integers(50, 99)), *off())
    if kind == 2:
        return _jpeg(_jpeg(region, int(rng.integers(50, 99)), *off()), int(rng.integers(50, 99)), *off())
    if kind == 3:
        f = float(rng.uniform(1.1, 2.0))
        interp = [cv2.INTER_LINEAR, cv2.INTER_CUBIC][int(rng.integers(0, 2))]
        big = cv2.resize(region, (int(round(w * f)), int(round(h * f))), interpolation=interp)
        out = np.ascontiguousarray(big[:h, :w])
    elif kind == 4:
        out = np.clip(region + rng.normal(0, rng.uniform(1.0, 4.0), region.shape), 0, 255).astype(np.uint8)
    elif kind == 5:
        out = cv2.GaussianBlur(region, (0, 0), float(rng.uniform(0.5, 1.5)))
    else:  # a tone change of the decoded pixels (gamma, per-channel gain): moves the JPEG lattice
        x = (region.astype(np.float32) / 255.0) ** float(rng.uniform(0.7, 1.4)) * rng.uniform(0.85, 1.15, 3)
        out = np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return _jpeg(out, int(rng.integers(60, 99)), *off()) if rng.random() < 0.5 else out


def make_batch(photos: list[np.ndarray], rng: np.random.Generator, n_photos: int = 16, per_source: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Patches (n, 3, 32, 32) float32 residuals and their source labels for one step (4 places x 2 sources per photo).

    Parameters
    ----------
    photos : list of numpy.ndarray
        uint8 RGB photos (each at least 48 px on a side).
    rng : numpy.random.Generator
        Seeded generator (the batch is a function of its state).
    n_photos : int
        Photos per batch (two sources each).
    per_source : int
        Patches per source.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
    """
    xs, ys = [], []
    idx = rng.choice(len(photos), size=min(n_photos, len(photos)), replace=False)
    final = int(rng.integers(70, 96)) if rng.random() < 0.8 else None
    m = (REGION - PATCH) // 2
    for i, pi in enumerate(idx):
        p = photos[int(pi)]
        pos = [(int(rng.integers(0, (p.shape[0] - REGION) // 8 + 1)) * 8, int(rng.integers(0, (p.shape[1] - REGION) // 8 + 1)) * 8)
               for _ in range(per_source)]
        for s, k in enumerate(rng.choice(N_KINDS, size=2, replace=False)):
            seed = int(rng.integers(0, 2**32))  # one pipeline (same parameters) for every region of this source
            for y0, x0 in pos:
                v = pipeline(p[y0: y0 + REGION, x0: x0 + REGION], np.random.default_rng(seed), int(k))
                if final is not None:
                    v = _jpeg(v, final)
                xs.append(residual(v)[m: m + PATCH, m: m + PATCH].transpose(2, 0, 1))
                ys.append(2 * i + s)
    return np.ascontiguousarray(np.stack(xs), np.float32), np.asarray(ys)


def net(torch):
    """The torch twin of the NumPy network in :mod:`.selfconsistency` (same parameter names)."""
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            cin = 3
            for (name, stride), cout in zip(TRUNK, WIDTHS, strict=True):
                setattr(self, name, nn.Conv2d(cin, cout, 3, stride, 1))
                cin = cout
            self.h1 = nn.Linear(cin, 32)
            self.h2 = nn.Linear(32, EMBED)

        def forward(self, x):
            for name, _ in TRUNK:
                x = torch.relu(getattr(self, name)(x))
            z = self.h2(torch.relu(self.h1(x.mean(dim=(2, 3)))))
            return torch.nn.functional.normalize(z, dim=1)

    assert HEAD == ("h1", "h2") and PATCH // CELL == 4
    return Net()


def supcon(torch, z, y, t: float = TEMPERATURE):
    """Supervised contrastive loss (Khosla et al. 2020) of unit embeddings ``z`` with labels ``y``."""
    sim = z @ z.T / t
    eye = torch.eye(len(y), dtype=torch.bool)
    sim = sim.masked_fill(eye, -1e9)
    pos = (y[:, None] == y[None]) & ~eye
    logp = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    return -(logp * pos).sum(1).div(pos.sum(1).clamp(min=1)).mean()


def train(photos: list[np.ndarray], *, steps: int = 3000, seed: int = 0, log=None) -> dict:
    """Train the embedding; return NumPy weights (torch layout, float32).

    Parameters
    ----------
    photos : list of numpy.ndarray
        uint8 RGB development photos.
    steps : int
        Optimiser steps (128 patches each).
    seed : int
        Seed of numpy and torch.
    log : callable, optional
        Progress lines.

    Returns
    -------
    dict
        parameter name -> float32 array.
    """
    from ..detect.npr import _require_torch

    torch = _require_torch("the self-consistency model", "")
    torch.manual_seed(seed)
    nthreads = torch.get_num_threads()
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    try:
        model = net(torch)
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps))
        t0, run = time.time(), None
        for step in range(steps):
            x, y = make_batch(photos, rng)
            loss = supcon(torch, model(torch.from_numpy(x)), torch.from_numpy(y))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            run = loss.item() if run is None else 0.98 * run + 0.02 * loss.item()
            if log and (step + 1) % max(1, steps // 10) == 0:
                log(f"self-consistency step {step + 1}/{steps} loss {run:.3f} ({time.time() - t0:.0f} s)")
        return {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    finally:
        torch.set_num_threads(nthreads)


def save_weights(weights: dict, path: str | Path, meta: dict) -> Path:
    """Write weights and provenance (``meta`` as JSON) to an ``.npz``, atomically.

    Parameters
    ----------
    weights : dict
        name -> array.
    path : str or Path
        Destination.
    meta : dict
        Command, seed, photo count, date.

    Returns
    -------
    Path
    """
    from ..util import atomic_path

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(p) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, meta=np.asarray(json.dumps(meta)), **weights)
    return p


def train_selfconsistency(data: str | Path, out: str | Path, *, steps: int = 3000, seed: int = 0, command: str = "",
                          log=None) -> dict:
    """Train on the development real photos under ``data`` and write the weights to ``out``.

    Parameters
    ----------
    data : str or Path
        The shared data folder.
    out : str or Path
        Weights file (``.npz``).
    steps, seed : int
        Optimiser steps and seed.
    command : str
        The command line, recorded in the file.
    log : callable, optional
        Progress lines.

    Returns
    -------
    dict
        The provenance written with the weights.
    """
    paths = training_photos(data)
    photos = [a for a in (_read(p) for p in paths) if a is not None]
    if log:
        log(f"self-consistency: {len(photos)} development photos")
    t0 = time.time()
    w = train(photos, steps=steps, seed=seed, log=log)
    meta = {"command": command, "photos": len(photos), "steps": steps, "seed": seed, "seconds": round(time.time() - t0),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "split": "sha256(relpath) % 4 == 0 (half of the development split)"}
    save_weights(w, out, meta)
    return meta
