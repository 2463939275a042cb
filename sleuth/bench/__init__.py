"""Benchmark support shared by the ``bench/`` scripts: metrics, report sections, data location.

The scripts under ``bench/`` only load data, call the library and format tables; what they
share lives here (:mod:`sleuth.bench.metrics`, :mod:`sleuth.bench.report`).
"""
from __future__ import annotations

from pathlib import Path


def data_dir() -> Path:
    """The benchmark data folder: ``$SLEUTH_DATA``, else ``../shared/data`` beside the checkout."""
    from ..settings import get_settings

    return get_settings().data or Path(__file__).resolve().parents[3] / "shared" / "data"
