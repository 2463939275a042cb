"""The deprecated ``/api/scan/html`` answer, rebuilt from stored reports (v0.1 compatibility)."""
from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from ..report import Report, render_html
from .store import Store


def legacy_html(reports: list[dict[str, Any]], store: Store) -> str:
    """The CLI's self-contained HTML report for stored reports (heatmaps from the store).

    Parameters
    ----------
    reports : list of dict
        Stored report dicts (with ``id`` and ``links``) or error-only reports.
    store : Store
        Where their maps are.

    Returns
    -------
    str
    """
    out: list = []
    for d in reports:
        d = {k: v for k, v in d.items() if k not in ("id", "links")}
        rep = Report.model_validate(d)
        rid = reports[len(out)].get("id")
        if rid:
            got = store.get_map(rid, "preview")
            if got:
                rep._thumbnail = np.asarray(Image.open(io.BytesIO(got[1])).convert("RGB"))
            for e in rep.evidence:
                for name in [n for n in reports[len(out)].get("links", {}) if n.startswith(f"maps.{e.analyzer}.")]:
                    got = store.get_map(rid, name[5:])
                    if got:
                        e.with_maps({name.rsplit(".", 1)[-1]: np.asarray(Image.open(io.BytesIO(got[1]))) / 255.0})
        out.append(rep)
    return render_html(out)
