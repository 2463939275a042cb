"""The HTML report: a Jinja2 template (autoescaped), self-contained and offline.

Layout: a summary table at the top linking to each file; per file a verdict card (headline,
basis, P(AI) with its threshold and FPR, edit score and where, conflicts in one sentence
each), the provenance chain (C2PA validation, signer, actions and ingredients; EXIF/XMP and
generator highlights), and only the maps that fired, each as an overlay on the image with an
opacity slider, a colour scale and click-to-zoom; then every evidence item and the audit trail.
Images are embedded as data URIs (the base photo once per file, as a CSS background); the page
loads nothing from the network.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..report import QUIET_VERDICTS, Evidence, Report, data_uri, heatmap_rgba, normalise_verdict, verdict_label
from .text import display

TEMPLATES = Path(__file__).resolve().parent / "templates"
#: detail keys shown as provenance highlights, with their labels (any claim-role analyzer may set them)
HIGHLIGHTS = (("make", "camera make"), ("model", "model"), ("lens_model", "lens"),
              ("datetime_original", "captured"), ("datetime", "modified"), ("software", "software"),
              ("creator_tool", "creator tool"), ("digital_source_type", "digital source type"),
              ("tool", "generator"), ("prompt", "prompt"), ("seed", "seed"), ("sampler", "sampler"),
              ("claim_generator", "C2PA claim generator"), ("signer", "C2PA signer"), ("issuer", "C2PA issuer"),
              ("validation_state", "C2PA validation state"), ("trust", "C2PA trust"), ("signing_time", "signed at"))


@lru_cache(maxsize=1)
def _env() -> Any:
    from jinja2 import Environment, FileSystemLoader

    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["show"] = display
    env.filters["num"] = lambda v, nd=2: "-" if v is None else f"{float(v):.{nd}f}"
    return env


def _fired(e: Evidence) -> bool:
    v = normalise_verdict(e.kind, e.verdict)
    return bool(e.maps) and not e.error and v not in QUIET_VERDICTS and e.strength != "none"


def _maps(r: Report, i: int) -> list[dict[str, Any]]:
    import cv2

    base = r._thumbnail
    out: list[dict[str, Any]] = []
    for e in r.evidence:
        if not _fired(e):
            continue
        for k, m in e.maps.items():
            ov = heatmap_rgba(m, max_side=384)
            if base is not None:
                bh, bw = base.shape[:2]
                ov = cv2.resize(ov, (max(1, bw // 2), max(1, bh // 2)), interpolation=cv2.INTER_LINEAR) if max(ov.shape[:2]) > max(bh, bw) // 2 else ov
            out.append({"id": f"ov-{i}-{len(out)}", "analyzer": e.analyzer, "name": k,
                        "label": verdict_label(e.kind, e.verdict), "score": e.score, "overlay": data_uri(ov),
                        "max": round(float(np.nanmax(m)) if m.size else 0.0, 3)})
    return out


def _chain(items: list[dict[str, Any]], depth: int = 0) -> list[dict[str, Any]]:
    out = []
    for it in items or []:
        out.append({"depth": depth, "title": it.get("title") or "(untitled)", "relationship": it.get("relationship"),
                    "signer": it.get("signer"), "actions": [a.get("action") for a in it.get("actions") or []],
                    "failing": it.get("failing_codes") or []})
        out += _chain(it.get("ingredients") or [], depth + 1)
    return out


def _provenance(r: Report) -> dict[str, Any]:
    rows, actions, chain, codes, history = [], [], [], [], []
    for e in r.evidence:
        if e.kind != "provenance" or e.error and not e.details:
            continue
        d = e.details or {}
        for key, label in HIGHLIGHTS:
            v = d.get(key)
            if v not in (None, "", [], {}):
                rows.append((label, str(v)[:300], e.analyzer))
        if (d.get("gps") or {}).get("present"):
            rows.append(("GPS", "present", e.analyzer))
        actions += [a for a in d.get("actions") or [] if isinstance(a, dict)]
        chain += _chain(d.get("ingredients") or [])
        codes += list(d.get("failing_codes") or [])
        history += [h for h in d.get("xmp_history") or [] if isinstance(h, dict)]
    return {"rows": rows, "actions": actions, "chain": chain, "codes": codes, "history": history}


def _file(r: Report, i: int) -> dict[str, Any]:
    from .table import _basis, _footnotes, _manip, _p_ai

    s = r.summary
    base = r._thumbnail
    ev = [{"analyzer": e.analyzer, "kind": e.kind, "label": "error" if e.error else verdict_label(e.kind, e.verdict),
           "verdict": e.verdict, "strength": e.strength, "score": e.score, "p_value": e.p_value,
           "summary": e.error or e.summary, "quiet": (not e.error) and (e.strength == "none"
                                                                       or normalise_verdict(e.kind, e.verdict) in QUIET_VERDICTS)}
          for e in r.evidence]
    return {"id": f"f{i}", "i": i, "r": r, "s": s, "basis": _basis(r).plain, "p_ai": _p_ai(r).plain,
            "manip": _manip(r).plain, "notes": [] if r.error else _footnotes(r),
            "base": data_uri(base, "JPEG") if base is not None else None,
            "aspect": f"{base.shape[1]} / {base.shape[0]}" if base is not None else "1",
            "maps": _maps(r, i), "prov": _provenance(r), "evidence": ev,
            "json": display(json.dumps({k: v for k, v in r.to_dict().items() if k != "audit"}, indent=1,
                                       ensure_ascii=False))[:200000]}


def _audit(reports: list[Report]) -> tuple[Any, bool]:
    audits = [r.audit for r in reports if r.audit]
    if not audits:
        return None, True
    key = [a.model_dump(exclude={"timestamp"}) for a in audits]
    return audits[0], all(k == key[0] for k in key)


def render_html(reports: list[Report], title: str = "sleuth report") -> str:
    """A self-contained HTML page for ``reports``.

    Parameters
    ----------
    reports : list of Report
        The reports (``_thumbnail`` set when the scan kept maps: ``keep_maps=True``).
    title : str
        Page title.

    Returns
    -------
    str
        The HTML text (every value autoescaped by Jinja2).
    """
    from ..report import LABELS

    audit, same = _audit(reports)
    files = [_file(r, i) for i, r in enumerate(reports)]
    return _env().get_template("report.html.j2").render(title=title, files=files, audit=audit, same_audit=same,
                                                        failed=sum(1 for r in reports if r.error), labels=LABELS)
