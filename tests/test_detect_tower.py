"""The CLIP tower exposes every block from one forward and leaves the projection unchanged."""
from __future__ import annotations

import numpy as np
import pytest

from .conftest import natural_image


@pytest.fixture(scope="module")
def tower():
    from sleuth.detect.tower import ClipTower

    return ClipTower(threads=1)


def test_one_forward_all_blocks_reproducible(tower):
    crop = natural_image(224, 224, seed=5)
    a, b = tower.encode(crop), tower.encode(crop)
    assert a["blocks"].shape == (12, 2, 768) and a["emb"].shape == (512,)
    assert np.array_equal(a["blocks"], b["blocks"]) and np.array_equal(a["emb"], b["emb"])
    assert abs(float(np.linalg.norm(a["emb"])) - 1) < 1e-5
    # blocks differ from each other (they are really the intermediate outputs)
    assert np.abs(a["blocks"][0] - a["blocks"][11]).mean() > 0.1


def test_projection_matches_the_unmodified_encoder(tower):
    from sleuth.detect.backbone import ClipBackbone

    crop = natural_image(224, 224, seed=6)
    e_plain, tok = ClipBackbone.shared().embed_tokens_unit(crop.astype(np.float32) / 255.0)
    o = tower.encode(crop)
    assert np.allclose(o["emb"], e_plain, atol=1e-5)
    # the last block's CLS / mean patch equal the v0.1 last-layer token features
    assert np.allclose(o["blocks"][11].reshape(-1), tok, atol=1e-3)


def test_feature_store_keys_by_protocol_and_model(tmp_path, tower):
    from sleuth.detect import views
    from sleuth.detect.dataset import Item
    from sleuth.detect.features import FeatureStore

    from .conftest import encode

    p = tmp_path / "x.png"
    p.write_bytes(encode(natural_image(300, 300, seed=7), "PNG"))
    st = FeatureStore(tmp_path / "store", tower=tower)
    it = Item(p, 0, "g", None)
    d = st.get(it, "c320q90")
    f = st.file(it.sha256, "c320q90")
    assert f.is_file() and f.parent.parent.name.startswith(views.PROTOCOL_VERSION + "-")
    assert d["emb"].shape == (2, 512) and d["blocks"].shape == (2, 12, 2, 768)
    again = st.get(it, "c320q90")
    assert np.array_equal(again["blocks"], d["blocks"])
