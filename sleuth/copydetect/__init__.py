"""sleuth.copydetect: copy detection, near-duplicate search, dedup and replication audits.

Modules: :mod:`.descriptors` (PDQ, pHash, SSCD), :mod:`.index` (persistent FAISS + SQLite index),
:mod:`.normalize` (background score normalisation), :mod:`.verify` (SIFT + RANSAC local
verification), :mod:`.api` (matching), :mod:`.dedup` (clusters, replication), :mod:`.evidence`
(the ``copy`` scan analyzer).
"""
from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:  # lazy: importing the package stays cheap
    if name in ("CopyIndex", "AddResult"):
        from . import index

        return getattr(index, name)
    if name in ("match", "Matcher", "Match", "matcher_for"):
        from . import api

        return getattr(api, name)
    if name in ("dedup", "replication"):
        from . import dedup

        return getattr(dedup, name)
    raise AttributeError(name)


__all__ = ["CopyIndex", "AddResult", "match", "Matcher", "Match", "matcher_for", "dedup", "replication"]
