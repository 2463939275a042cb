"""NPR: neighbouring-pixel relationships (Tan et al., CVPR 2024) with a small CNN.

Design
------
* Residual: ``x - up2(x[::2, ::2])`` (nearest-neighbour re-upsampling of the 2x subsample),
  the trace that the up-sampling layers of GANs and diffusion decoders leave in every 2x2 cell.
  Computed on the format-neutral protocol image, in [0, 1] units, times 8.
* CNN (14.4 k parameters; 60 KB as npz): conv3x3 3->16, ReLU, conv3x3/2 16->32, ReLU, conv3x3/2 32->32,
  ReLU, conv1x1 32->1 = a logit map at 1/4 resolution; the image logit is its mean, and the
  map (calibrated by the same Platt map) is the detector's tile-level explanation.
* Training (``sleuth train aigen``) uses torch on CPU: one random even-aligned 64x64 crop
  per image and training variant (1938 crops), 6 epochs, about 2 min per training on this
  shared CPU (96x96 crops, 2 per variant and 8 epochs took over 10 min per training: too slow
  for 4 trainings per head); random even-aligned crops of the protocol image and its augmented
  copies, Adam, fixed seeds. Weights are exported to ``npr.npz`` (~60 KB); inference is plain
  numpy (im2col), so users never need torch. Without torch, training NPR fails with a clear
  message and the tests that need it are skipped.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

SCALE = 8.0
CROP = 64
LAYERS = (("c1", 3, 16, 1), ("c2", 16, 32, 2), ("c3", 32, 32, 2))


def residual(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> HxWx3 float32 NPR residual (H, W cropped to even)."""
    h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
    x = rgb[:h, :w].astype(np.float32) / 255.0
    up = np.repeat(np.repeat(x[::2, ::2], 2, axis=0), 2, axis=1)
    return (x - up) * SCALE


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int) -> np.ndarray:
    """x: HxWxCin, w: Cout x Cin x 3 x 3 (torch layout), padding 1."""
    xp = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(0, 1))[::stride, ::stride]  # H' W' Cin 3 3
    return np.tensordot(win, w, axes=([2, 3, 4], [1, 2, 3])) + b


def logit_map(weights: dict, rgb: np.ndarray) -> np.ndarray:
    x = residual(rgb)
    for name, _, _, stride in LAYERS:
        x = np.maximum(_conv(x, weights[name + ".weight"], weights[name + ".bias"], stride), 0)
    return (x @ weights["c4.weight"].reshape(1, -1).T)[..., 0] + weights["c4.bias"][0]


def score(weights: dict, rgb: np.ndarray) -> tuple[float, np.ndarray]:
    m = logit_map(weights, rgb)
    return float(m.mean()), m


def load_weights(path: str | Path) -> dict:
    with np.load(path) as z:
        return {k: z[k].astype(np.float32) for k in z.files}


# ----------------------------------------------------------------------------- training (torch)

def _require_torch(what: str = "the npr detector", hint: str = "; train without it with --detectors clip-probe,rigid,spectral"):
    """torch, or a one-line usage error naming what needs it (training only; inference is NumPy)."""
    try:
        import torch
    except ImportError:
        from ..errors import UsageError

        raise UsageError(f"training {what} needs torch (pip install 'sleuth[torch]'){hint}") from None
    return torch


def _net(torch):
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(3, 16, 3, 1, 1)
            self.c2 = nn.Conv2d(16, 32, 3, 2, 1)
            self.c3 = nn.Conv2d(32, 32, 3, 2, 1)
            self.c4 = nn.Conv2d(32, 1, 1)

        def forward(self, x):
            r = torch.relu
            return self.c4(r(self.c3(r(self.c2(r(self.c1(x))))))).mean(dim=(1, 2, 3))

    return Net()


def crops(rgb: np.ndarray, n: int, rng: np.random.Generator, size: int = CROP) -> np.ndarray:
    """n even-aligned size x size crops (padded by reflection when the image is smaller)."""
    h, w = rgb.shape[:2]
    if h < size or w < size:
        rgb = np.pad(rgb, ((0, max(0, size - h)), (0, max(0, size - w)), (0, 0)), mode="reflect")
        h, w = rgb.shape[:2]
    out = []
    for _ in range(n):
        y = int(rng.integers(0, (h - size) // 2 + 1)) * 2
        x = int(rng.integers(0, (w - size) // 2 + 1)) * 2
        out.append(rgb[y:y + size, x:x + size])
    return np.stack(out)


def train(patches: np.ndarray, labels: np.ndarray, *, epochs: int = 6, seed: int = 0, batch: int = 32,
          log=None) -> dict:
    """Train on uint8 patches (N x 96 x 96 x 3) with labels; return numpy weights."""
    torch = _require_torch()
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    nthreads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        X = torch.from_numpy(np.stack([residual(p) for p in patches]).transpose(0, 3, 1, 2).copy())
        Y = torch.from_numpy(np.asarray(labels, np.float32))
        pos = float(Y.mean())
        wts = torch.where(Y > 0, 0.5 / max(pos, 1e-3), 0.5 / max(1 - pos, 1e-3))
        net = _net(torch)
        opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=1e-4)
        g = torch.Generator().manual_seed(seed)
        for ep in range(epochs):
            perm = torch.randperm(len(X), generator=g)
            tot = 0.0
            for i in range(0, len(X), batch):
                j = perm[i:i + batch]
                xb = X[j]
                if torch.rand(1, generator=g).item() < 0.5:
                    xb = torch.flip(xb, dims=[3])
                loss = (torch.nn.functional.binary_cross_entropy_with_logits(net(xb), Y[j], reduction="none") * wts[j]).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                tot += float(loss.detach()) * len(j)
            if log:
                log(f"npr epoch {ep + 1}/{epochs} loss {tot / len(X):.4f}")
        return {k: v.detach().numpy().astype(np.float32) for k, v in net.state_dict().items()}
    finally:
        torch.set_num_threads(nthreads)


def score_many(weights: dict, images) -> np.ndarray:
    """Image logits for many protocol images: torch when installed (about 5x faster), else numpy."""
    try:
        import torch
    except ImportError:
        return np.asarray([score(weights, x)[0] for x in images])
    net = _net(torch)
    net.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    out = []
    with torch.no_grad():
        for x in images:
            t = torch.from_numpy(residual(x).transpose(2, 0, 1)[None].copy())
            out.append(float(net(t)[0]))
    return np.asarray(out)


def save_weights(weights: dict, path: str | Path) -> None:
    from ..util import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **weights)
