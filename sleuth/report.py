"""The report model: one :class:`Report` per input, a list of :class:`Evidence` items.

The JSON shape is a contract (see docs/report.schema.json, generated from these pydantic
models by ``sleuth schema``). Names below are never renamed; fields may be added.

* ``Evidence``: analyzer, kind (provenance / watermark / ai-generated / manipulation / copy),
  verdict (short lowercase string or null), score, p_value, strength (strong / moderate /
  weak / none), a one-sentence summary, structured details. Heatmaps travel beside the item
  in ``maps`` (arrays, never serialised); the pipeline writes them as PNG files and records
  their paths in ``details["maps"]``.
* ``Report``: file facts (path, sha256, format, width, height, bytes), error, evidence and a
  top-level ``summary`` that keeps *claims* (metadata: C2PA, EXIF, generator fields) apart
  from *signals* (pixels: watermarks, detectors, forensics).
"""
from __future__ import annotations

import base64
import html
import io
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from .util import to_jsonable

Kind = Literal["provenance", "watermark", "ai-generated", "manipulation", "copy", "file"]
Strength = Literal["strong", "moderate", "weak", "none"]

#: kinds whose evidence is a claim carried by metadata (can be stripped or forged)
CLAIM_KINDS = {"provenance"}
#: kinds whose evidence comes from the pixels themselves
SIGNAL_KINDS = {"watermark", "ai-generated", "manipulation", "copy"}


class Evidence(BaseModel):
    model_config = ConfigDict(extra="allow")

    analyzer: str
    kind: Kind
    verdict: str | None = None
    score: float | None = None
    p_value: float | None = None
    strength: Strength = "none"
    summary: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    _maps: dict[str, np.ndarray] = PrivateAttr(default_factory=dict)

    @property
    def maps(self) -> dict[str, np.ndarray]:
        """Heatmaps (HxW float in [0,1], white = suspicious), not serialised."""
        return self._maps

    def with_maps(self, maps: dict[str, np.ndarray]) -> "Evidence":
        self._maps.update(maps)
        return self


class Summary(BaseModel):
    origin: str = "unknown"
    claims: list[str] = Field(default_factory=list)
    signals: list[str] = Field(default_factory=list)
    conflicts: list[str] = Field(default_factory=list)
    text: str = ""


class Report(BaseModel):
    model_config = ConfigDict(extra="allow")

    path: str
    #: the path's exact bytes in hex when they are not valid UTF-8 (``path`` then shows U+FFFD)
    path_bytes_hex: str | None = None
    sha256: str | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    bytes: int | None = None
    error: str | None = None
    notes: list[str] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    summary: Summary = Field(default_factory=Summary)
    _thumbnail: np.ndarray | None = PrivateAttr(default=None)

    def get(self, analyzer: str) -> Evidence | None:
        return next((e for e in self.evidence if e.analyzer == analyzer), None)

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(self.model_dump(mode="json"))


_STRENGTH_RANK = {"strong": 3, "moderate": 2, "weak": 1, "none": 0}


def summarise(report: Report) -> Summary:
    """Build the top-level summary without merging metadata claims and pixel signals."""
    claims, signals, ai_claim, ai_signal, camera_claim = [], [], False, False, False
    invalid: list[str] = []
    for e in report.evidence:
        if e.error or e.strength == "none" or e.verdict in (None, "absent", "not-checked", "skipped"):
            continue
        line = f"{e.analyzer}: {e.summary}" if e.summary else f"{e.analyzer}: {e.verdict}"
        if e.kind in CLAIM_KINDS:
            det = e.details or {}
            if e.verdict == "invalid":
                claims.append(line)
                invalid.append(e.analyzer)
                continue  # a claim whose signature fails says nothing reliable about origin
            claims.append(line)
            dst = str(det.get("digital_source_type") or "")
            if e.analyzer == "generator-metadata" or "trainedAlgorithmic" in dst or "algorithmicMedia" in dst:
                ai_claim = True
            if e.analyzer == "c2pa" and det.get("ai_generated"):
                ai_claim = True
            if "digitalCapture" in dst or (e.analyzer == "exif" and det.get("make")):
                camera_claim = True
        elif e.kind in SIGNAL_KINDS:
            signals.append(line)
            if e.kind == "ai-generated" and e.verdict == "ai-generated":
                ai_signal = True
            if e.kind == "watermark" and e.analyzer == "known-watermark":
                ai_signal = True
    conflicts = [f"{a} manifest is invalid (tampered or corrupted after signing): its claims are not counted" for a in invalid]
    if camera_claim and ai_signal:
        conflicts.append("metadata claims a camera capture but pixel evidence points to an AI generator")
    if ai_claim and not ai_signal and any(e.kind == "ai-generated" and e.verdict == "real" for e in report.evidence):
        conflicts.append("metadata claims AI generation but the pixel detectors did not fire")
    if report.error:
        origin, text = "unknown", f"not analysed: {report.error}"
    elif ai_claim and ai_signal:
        origin, text = "ai-generated", "AI generation is both claimed in metadata and seen in the pixels."
    elif ai_claim:
        origin, text = "ai-generated (claimed)", "Metadata claims AI generation; pixel evidence does not confirm it on its own."
    elif ai_signal:
        origin, text = "ai-generated (signal)", "Pixel evidence points to AI generation; no metadata claims it."
    elif camera_claim:
        origin, text = "camera (claimed)", "Metadata claims a camera capture; metadata can be forged or stripped."
    else:
        origin, text = "unknown", "No decisive provenance evidence."
    if conflicts:
        text += " Conflict: " + "; ".join(conflicts) + "."
    return Summary(origin=origin, claims=claims, signals=signals, conflicts=conflicts, text=text)


# ----------------------------------------------------------------------------- rendering

def render_table(reports: list[Report], console: Any | None = None) -> None:
    """Print a Rich table: one row per file, the strongest evidence listed."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title="sleuth scan", show_lines=True)
    table.add_column("file", overflow="fold", max_width=40)
    table.add_column("size")
    table.add_column("origin")
    table.add_column("evidence", overflow="fold")
    for r in reports:
        if r.error:
            table.add_row(r.path, "", "[red]error[/red]", f"[red]{html.escape(r.error)}[/red]")
            continue
        items = sorted(r.evidence, key=lambda e: -_STRENGTH_RANK.get(e.strength, 0))
        lines, quiet = [], []
        for e in items:
            if e.error:
                lines.append(f"[yellow]{e.analyzer}: error: {html.escape(e.error)}[/yellow]")
            elif e.strength == "none":
                quiet.append(e.analyzer)
            else:
                colour = {"strong": "bold", "moderate": "", "weak": "dim"}[e.strength]
                txt = f"{e.analyzer}: {e.verdict or '-'} ({e.strength})"
                lines.append(f"[{colour}]{txt}[/{colour}]" if colour else txt)
        if quiet:
            lines.append(f"[dim]{len(quiet)} quiet: {', '.join(quiet)}[/dim]")
        table.add_row(r.path, f"{r.width}x{r.height} {r.format}", r.summary.origin, "\n".join(lines))
    console.print(table)


def _png_data_uri(arr: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def heatmap_rgba(heat: np.ndarray, max_side: int = 512) -> np.ndarray:
    """Colour a [0,1] heatmap (white = suspicious) as an RGBA overlay (transparent where 0)."""
    import cv2

    h = np.clip(np.nan_to_num(heat.astype(np.float32)), 0, 1)
    scale = min(1.0, max_side / max(h.shape))
    if scale < 1:
        h = cv2.resize(h, (max(1, int(h.shape[1] * scale)), max(1, int(h.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    col = cv2.applyColorMap((h * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[..., ::-1]
    a = (np.clip(h * 1.5, 0, 1) * 200).astype(np.uint8)
    return np.dstack([col, a])


def _jpeg_data_uri(arr: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def thumbnail(rgb: np.ndarray, max_side: int = 360) -> np.ndarray:
    import cv2

    scale = min(1.0, max_side / max(rgb.shape[:2]))
    if scale < 1:
        rgb = cv2.resize(rgb, (max(1, int(rgb.shape[1] * scale)), max(1, int(rgb.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    return rgb


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.4em} .file{border:1px solid #ccc;border-radius:6px;padding:1em;margin:1em 0}
.err{color:#b00} .ev{margin:.3em 0} .strong{font-weight:bold} .weak,.none{color:#777}
table{border-collapse:collapse} td,th{border:1px solid #ddd;padding:.2em .5em;font-size:.9em;vertical-align:top}
.maps{display:flex;flex-wrap:wrap;gap:1em} .map{position:relative;display:inline-block}
.map div{max-width:360px} .map img.ov{display:block;width:100%;height:100%;opacity:.8}
.map figcaption{font-size:.8em;text-align:center} details pre{font-size:.8em;white-space:pre-wrap}
"""


def render_html(reports: list[Report], title: str = "sleuth report") -> str:
    """A self-contained HTML page: per file, the summary, the evidence and heatmap overlays."""
    import json as _json

    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<p>{len(reports)} file(s); {sum(1 for r in reports if r.error)} failed.</p>"]
    for i, r in enumerate(reports):
        parts.append("<div class='file'>")
        parts.append(f"<h2>{html.escape(r.path)}</h2>")
        if r.error:
            parts.append(f"<p class='err'>error: {html.escape(r.error)}</p></div>")
            continue
        parts.append(f"<p>{r.width}x{r.height} {html.escape(r.format or '')}, {r.bytes} bytes, sha256 <code>{r.sha256}</code></p>")
        parts.append(f"<p><b>Origin: {html.escape(r.summary.origin)}</b>. {html.escape(r.summary.text)}</p>")
        parts.append("<table><tr><th>analyzer</th><th>kind</th><th>verdict</th><th>strength</th><th>score</th><th>p-value</th><th>summary</th></tr>")
        for e in r.evidence:
            sc = "" if e.score is None else f"{e.score:.4g}"
            pv = "" if e.p_value is None else f"{e.p_value:.3g}"
            summ = html.escape(e.error and f"error: {e.error}" or e.summary)
            parts.append(f"<tr class='{e.strength}'><td>{html.escape(e.analyzer)}</td><td>{e.kind}</td><td>{html.escape(str(e.verdict))}</td>"
                         f"<td>{e.strength}</td><td>{sc}</td><td>{pv}</td><td>{summ}</td></tr>")
        parts.append("</table>")
        base = r._thumbnail
        maps = [(e.analyzer, k, v) for e in r.evidence for k, v in e.maps.items()]
        if base is not None and maps:
            import cv2

            # the photo is embedded once per file (CSS background), each map as a small overlay
            parts.append(f"<style>.b{i}{{background-image:url('{_jpeg_data_uri(base)}');background-size:cover;"
                         f"width:{base.shape[1]}px;height:{base.shape[0]}px}}</style><div class='maps'>")
            for an, k, m in maps:
                ov = cv2.resize(heatmap_rgba(m, max_side=max(base.shape[:2])), (base.shape[1], base.shape[0]),
                                interpolation=cv2.INTER_LINEAR)
                parts.append(f"<figure class='map'><div class='b{i}'><img class='ov' src='{_png_data_uri(ov)}'></div>"
                             f"<figcaption>{html.escape(an)}: {html.escape(k)}</figcaption></figure>")
            parts.append("</div>")
        parts.append("<details><summary>JSON</summary><pre>"
                     + html.escape(_json.dumps(r.to_dict(), indent=1, ensure_ascii=False)[:200000]) + "</pre></details>")
        parts.append("</div>")
    parts.append("</body></html>")
    return "".join(parts)
