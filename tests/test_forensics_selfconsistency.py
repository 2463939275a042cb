"""Self-consistency analyzer: the packaged embedding finds a splice with another JPEG history (made
here) as the inconsistent region, stays quieter on the pristine twin, the NumPy inference matches
the torch training network, training runs (skipped without torch), and bad input is refused."""
from __future__ import annotations

import numpy as np
import pytest

from sleuth.forensics import selfconsistency as sc
from sleuth.forensics import synth
from sleuth.forensics.common import NotEnoughSignal, upsample
from sleuth.forensics.evidence import analyze_image
from sleuth.imageio import load_image

from .test_forensics import _jpeg_pixels, textured_image


@pytest.fixture(scope="module")
def pair():
    """A JPEG-70 host with a never-compressed donor blob pasted in (saved at 90), and its pristine twin."""
    host = _jpeg_pixels(textured_image(384, 512, seed=3), 70)
    donor = textured_image(384, 512, seed=11)
    b, m = synth.splice(host, donor, np.random.default_rng(5), donor_quality=None, out_quality=90)
    p, _ = synth.pristine(host, np.random.default_rng(0), out_quality=90)
    return load_image(b), m, load_image(p)


def test_splice_region_is_the_inconsistent_one(pair):
    import cv2

    img, m, _ = pair
    r = sc.analyze(img.rgb)
    assert r.status == "ok" and r.heat is not None
    z = cv2.resize(r.extra_maps["z"], m.shape[::-1], interpolation=cv2.INTER_LINEAR)  # unclipped robust z
    rel = upsample(r.reliability, *m.shape) > 0.5
    assert float(z[m & rel].mean()) > float(z[~m & rel].mean()) + 3.0
    heat = upsample(r.heat, *m.shape)
    assert float(heat[m].mean()) > 0.5 and float(heat[m].mean()) > 3 * float(heat[~m].mean())


def test_splice_scores_above_its_pristine_twin(pair):
    img, _, pristine = pair
    assert sc.analyze(img.rgb).score > sc.analyze(pristine.rgb).score + 3.0


def test_registered_in_the_forensic_tier(pair):
    from sleuth.results import forensic_analyzers

    img, _, _ = pair
    assert "self-consistency" in forensic_analyzers()
    r = analyze_image(img, None, ("self-consistency",))["self-consistency"]
    assert r.status == "ok" and r.seconds > 0 and r.score is not None


def test_numpy_inference_matches_the_torch_network():
    torch = pytest.importorskip("torch")
    from sleuth.forensics import sctrain

    w = sc.load_weights()
    net = sctrain.net(torch)
    net.load_state_dict({k: torch.from_numpy(v) for k, v in w.items() if k != "meta"})
    rgb = textured_image(64, 64, seed=1)
    x = sc.residual(rgb)
    with torch.no_grad():
        zt = net(torch.from_numpy(x[:32, :32].transpose(2, 0, 1).copy())[None]).numpy()[0]
    zn = sc.head(w, sc.trunk(w, x[:32, :32]).mean(axis=(0, 1)))
    assert np.abs(zt - zn).max() < 1e-4


def test_training_smoke(tmp_path):
    pytest.importorskip("torch")
    from sleuth.forensics import sctrain

    photos = [textured_image(160, 160, seed=s) for s in range(4)]
    w = sctrain.train(photos, steps=2, seed=0)
    assert set(w) == {k for k in sc.load_weights() if k != "meta"}
    out = sctrain.save_weights(w, tmp_path / "w.npz", {"steps": 2})
    r = sc.analyze(textured_image(256, 256, seed=2), sc.load_weights(out))
    assert r.status == "ok" and 0.0 <= float(r.heat.min()) and float(r.heat.max()) <= 1.0


def test_training_photos_respect_the_split(tmp_path):
    from sleuth.forensics import sctrain

    d = tmp_path / "aigen" / "real" / "kodak24"
    d.mkdir(parents=True)
    names = [f"k{i}.png" for i in range(40)]
    for n in names:
        (d / n).write_bytes(b"")
    got = {p.name for p in sctrain.training_photos(tmp_path)}
    assert got and got < set(names)
    assert all(sctrain.host_split(f"aigen/real/kodak24/{n}") == "embedding" for n in got)
    assert {sctrain.host_split(f"aigen/real/kodak24/{n}") for n in names} == {"test", "dev", "embedding"}
    from sleuth.errors import UsageError

    with pytest.raises(UsageError, match="no development real photos"):
        sctrain.training_photos(tmp_path / "missing")


def test_bad_input():
    with pytest.raises(NotEnoughSignal, match="under 64 px"):
        sc.analyze(np.zeros((40, 400, 3), np.uint8))
    with pytest.raises(NotEnoughSignal, match="single colour"):
        sc.analyze(np.full((128, 128, 3), 120, np.uint8))
    with pytest.raises(FileNotFoundError, match="self-consistency weights not found"):
        sc.load_weights("/nonexistent/w.npz")
    flat = np.zeros((128, 128, 3), np.uint8)
    flat[:, 64:] = 255  # two flat halves: no textured window
    with pytest.raises(NotEnoughSignal):
        sc.analyze(flat)
