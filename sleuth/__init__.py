"""sleuth: image forensics and provenance.

Two-line API::

    import sleuth
    report = sleuth.scan("photo.jpg")          # one image: path, bytes or PIL image
    reports = list(sleuth.scan_many(paths, jobs=2))
"""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import ImageLoadError, ModelNotFoundError, SleuthError  # noqa: E402
from .pipeline import scan, scan_many  # noqa: E402
from .report import Evidence, Report  # noqa: E402

__all__ = ["scan", "scan_many", "Report", "Evidence", "SleuthError", "ImageLoadError", "ModelNotFoundError", "__version__"]
