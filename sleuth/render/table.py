"""The terminal table: one verdict line per file, notes under it, a legend and the audit footer.

Every cell is a Rich ``Text`` (never parsed as markup), so a file named ``[bold red]x.png`` is
shown as written and no HTML escape ever reaches the terminal. The words come from
``report.verdict_label`` and ``Summary.headline``: the same words as the JSON and HTML.
"""
from __future__ import annotations

from typing import Any

from rich.text import Text

from ..report import NOTHING, Report, verdict_label
from .text import display

TONE_STYLE = {"error": "bold red", "ai": "bold magenta", "edited": "bold yellow", "clean": "green", "info": "cyan"}
LEGEND = [
    ("AI-generated", "ai", "claimed in metadata and/or seen in the pixels (basis says which)"),
    ("edited", "edited", "edit history in metadata and/or a manipulated region in the pixels"),
    ("camera photo", "clean", "camera metadata, nothing contradicts it"),
    ("no evidence", "clean", "nothing found (absence of evidence is not proof)"),
    ("not analysed", "error", "the file could not be read"),
]


def _short_path(path: str, width: int = 34, root: str = "") -> str:
    p = display(path)
    if root and p.startswith(root):
        p = p[len(root):]
    return p if len(p) <= width else "…" + p[-(width - 1):]


def common_root(reports: list[Report]) -> str:
    """The folder all paths share (shown once in the title), with its trailing slash; '' if none."""
    import os

    paths = [display(r.path) for r in reports]
    if len(paths) < 1 or not all(os.sep in p for p in paths):
        return ""
    root = os.path.commonpath([os.path.dirname(p) or "." for p in paths]) if len(paths) > 1 else os.path.dirname(paths[0])
    return root.rstrip(os.sep) + os.sep if root and root != "." else ""


def basis_words(r: Report) -> str:
    """'claim', a pixel signal by type ('mark', 'detector', 'forensics'), or both joined by '+'."""
    s = r.summary
    words = ["claim"] if "claim" in s.basis else []
    if "signal" in s.basis:
        if s.marks:
            words.append("mark")
        if s.tone == "ai" and s.ai and s.ai.verdict == "likely-ai":
            words.append("detector")
        if s.tone != "ai" and s.manipulation and s.manipulation.verdict in ("manipulated", "scaling-attack"):
            words.append("forensics")
        if len(words) == ("claim" in s.basis):
            words.append("signal")
    return "+".join(words) or "-"


def _basis(r: Report) -> Text:
    w = basis_words(r)
    return Text(w, style="dim" if w == "-" else "")


def _p_ai(r: Report) -> Text:
    a = r.summary.ai
    if a is None or a.probability is None:
        return Text("-", style="dim")
    thr = a.threshold
    rel = "" if thr is None else (f"≥{thr:.2f}" if a.probability >= thr else f"<{thr:.2f}")
    style = {"likely-ai": "bold magenta", "uncertain": "yellow", NOTHING: "green"}.get(a.verdict or "", "dim")
    t = Text(f"{a.probability:.2f}{rel}", style=style)
    if a.note:
        t.append(" †", style="yellow")
    return t


def _manip(r: Report) -> Text:
    m = r.summary.manipulation
    if m is None or m.score is None:
        return Text("-" if m is None else m.label, style="dim")
    if m.verdict in ("manipulated", "scaling-attack"):
        places = (m.where or "found").split(",")[0].split(" and ")
        return Text(f"{m.score:.2f} {places[0]}" + (f" +{len(places) - 1}" if len(places) > 1 else ""), style="bold yellow")
    return Text(f"{m.score:.2f}", style="dim")


def _count(v: Any, yes: str) -> Text:
    if v is None:
        return Text("-", style="dim")
    if v in (0, NOTHING):
        return Text("no", style="dim")
    return Text(str(v) if isinstance(v, int) else yes, style="bold")


def _quiet(r: Report, verbose: bool) -> Text:
    s = r.summary
    if r.error:
        return Text("")
    t = Text(", ".join(s.quiet) if verbose else str(len(s.quiet)), style="dim")
    if s.failed:
        t.append(f" +{len(s.failed)} failed", style="red")
    return t


def _error_text(r: Report) -> str:
    e = display(r.error)
    p = display(r.path)
    return e[len(p) + 2:] if e.startswith(p + ": ") else e


def _footnotes(r: Report) -> list[str]:
    s = r.summary
    out = list(s.conflicts)
    out += [p for p in s.c2pa_problems if not any(p.split(" (")[0] in c for c in s.conflicts)]
    if s.unverified_claims:
        out.append("unverified claims: " + "; ".join(s.unverified_claims))
    if s.edits:
        out.append("edit history: " + "; ".join(s.edits[:3]))
    if s.ai and s.ai.note:
        out.append(f"P(AI) {s.ai.probability:.2f}: {s.ai.note}" if s.ai.probability is not None else s.ai.note)
    return out


def audit_footer(reports: list[Report]) -> Text:
    """Two dim lines: versions, model hashes, operating points, time (the JSON has the full audit)."""
    a = next((r.audit for r in reports if r.audit), None)
    if a is None:
        return Text("")
    models = ", ".join(f"{m.name} {m.sha256[:10]}" for m in a.models if m.sha256 and not m.name.startswith("data/"))
    ops = []
    for name, an in a.analyzers.items():
        op = an.operating_point
        if "threshold" in op:
            fpr = op.get("target_fpr", op.get("fpr_target"))
            ops.append(f"{name} thr {float(op['threshold']):.3g}" + (f" @ {float(fpr):.0%} FPR" if fpr is not None else ""))
        elif "fpr" in op:
            ops.append(f"{name} FPR {float(op['fpr']):g}")
    t = Text(f"sleuth {a.sleuth_version} · {a.python} · {a.timestamp} · models: {models or 'none resolved'}",
             style="dim")
    if ops:
        t.append("\noperating points: " + "; ".join(ops) + " · full audit trail: --format json", style="dim")
    return t


def render_table(reports: list[Report], console: Any | None = None, verbose: bool = False) -> None:
    """Print one verdict line per file, numbered notes, a legend and the audit footer.

    Parameters
    ----------
    reports : list of Report
        The reports, in order.
    console : rich.console.Console, optional
        Where to print (default: stdout).
    verbose : bool
        Name the quiet analyzers and list every evidence item under the table.

    Returns
    -------
    None
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    root = common_root(reports)
    table = Table(title=f"sleuth scan: {len(reports)} file(s)" + (f" in {root}" if root else ""),
                  box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left", collapse_padding=True)
    checked = any(r.summary.copies is not None or r.summary.own_mark is not None for r in reports)
    table.add_column("file", overflow="fold", min_width=24, max_width=40)
    table.add_column("verdict", overflow="fold", min_width=8)
    table.add_column("basis", overflow="fold")
    table.add_column("P(AI)", no_wrap=True)
    table.add_column("edit", overflow="fold", max_width=16)
    if checked:
        table.add_column("copy/mark", no_wrap=True)
    table.add_column("quiet", overflow="fold", justify="right")
    table.add_column("note", no_wrap=True)
    notes: list[tuple[int, str, str]] = []
    for r in reports:
        lines = [_error_text(r)] if r.error else _footnotes(r)
        ref = Text("")
        if lines:
            notes.append((len(notes) + 1, _short_path(r.path, 40, root), " · ".join(lines)))
            ref = Text(f"[{len(notes)}]", style="red" if r.error else "yellow")
        s = r.summary
        cells = [Text(_short_path(r.path, 40, root)), Text(s.headline, style=TONE_STYLE.get(s.tone, "")), _basis(r),
                 _p_ai(r), _manip(r)]
        if checked:
            cells.append(Text.assemble(_count(s.copies, "yes"), "/", _count(s.own_mark, "yes")))
        table.add_row(*cells, _quiet(r, verbose), ref)
    console.print(table)
    for i, path, line in notes:
        console.print(Text.assemble((f"[{i}] ", "yellow"), (path + ": ", "bold"), display(line)))
    if verbose:
        _print_evidence(console, reports)
    console.print(_legend(reports))
    console.print(audit_footer(reports))


def _legend(reports: list[Report]) -> Text:
    checked = any(r.summary.copies is not None or r.summary.own_mark is not None for r in reports)
    t = Text("legend: ", style="dim")
    for word, tone, _ in LEGEND:
        t.append(word, style=TONE_STYLE[tone])
        t.append("  ")
    fprs = sorted({r.summary.ai.fpr for r in reports if r.summary.ai and r.summary.ai.fpr is not None})
    fpr = " / ".join(f"{f:.0%}" for f in fprs) or "the stated"
    t.append(f"\nP(AI) ≥thr: likely AI (threshold at {fpr} FPR on real photos); <thr: no AI signal; † read with care. "
             "basis: claim = metadata (can be forged or stripped); mark, detector, forensics = signals in the pixels. "
             "edit: forensic score and where. quiet: analyzers that found nothing (--verbose names them). "
             + ("copy/mark: copies found / own watermark, '-' = not checked (no --index / --key)." if checked else
                "Copies and own watermark not checked (give --index / --key)."), style="dim")
    return t


def _print_evidence(console: Any, reports: list[Report]) -> None:
    for r in reports:
        if r.error:
            continue
        console.print(Text(display(r.path), style="bold"))
        console.print(Text("  " + display(r.summary.text), style="italic"))
        for e in r.evidence:
            style = "red" if e.error else ("dim" if e.strength == "none" else "")
            words = f"error: {e.error}" if e.error else f"{verdict_label(e.kind, e.verdict)} ({e.strength})"
            console.print(Text(f"  {e.analyzer}: {display(words)}: {display(e.summary)}", style=style))
