"""Help text that teaches: what ``sleuth`` with no arguments shows, and examples per command.

The command modules append ``EXAMPLES[name]`` to their help (``epilog``); the top-level callback
prints :data:`OVERVIEW` when ``sleuth`` runs without a command.
"""
from __future__ import annotations

#: the five most common commands, shown by ``sleuth`` with no arguments
COMMON = [
    ("sleuth scan DIR -r", "every check on a folder: one verdict line per file"),
    ("sleuth scan DIR --format html --out report.html", "the same as a page with maps you can zoom"),
    ("sleuth detect IMG...", "is it AI-generated? probability, threshold and FPR"),
    ("sleuth forensics IMG... --out maps/", "was it edited, and where? heatmaps and a score"),
    ("sleuth examples DIR && sleuth scan DIR", "a demo folder: real photos, an edit, AI files, broken files"),
]

OVERVIEW = "sleuth: image forensics and provenance with calibrated, explainable evidence.\n\nCommon commands:\n" + "\n".join(
    f"  {cmd:48} {what}" for cmd, what in COMMON) + "\n\nAll commands: sleuth --help    One command: sleuth COMMAND --help    Version and models: sleuth --version"

#: one or two examples per command, appended to its --help
EXAMPLES: dict[str, list[str]] = {
    "scan": ["sleuth scan photos/ -r --jobs 2", "sleuth scan photos/ --format jsonl > reports.jsonl",
             "sleuth scan img.jpg --format html --out report.html --verbose"],
    "detect": ["sleuth detect img.jpg", "sleuth detect photos/ -r --format json > detect.json"],
    "forensics": ["sleuth forensics img.jpg --out maps/", "sleuth forensics photos/ --format json"],
    "index": ["sleuth index add refs.idx references/ -r"],
    "search": ["sleuth search refs.idx query.jpg --format json"],
    "dedup": ["sleuth dedup photos/ --format json"],
    "replication": ["sleuth replication generated/ --index refs.idx"],
    "mark": ["sleuth mark in.png --out marked/ --key \"$KEY\" --message hello",
             "sleuth mark in.png --out marked/ --key \"$KEY\" --bits 128 --message \"a 16-byte id\""],
    "verify": ["sleuth verify marked/*.png --key \"$KEY\"", "sleuth verify marked/*.png --key \"$KEY\" --bits 128"],
    "examples": ["sleuth examples examples/generated && sleuth scan examples/generated"],
    "models": ["sleuth models list", "sleuth models install"],
    "schema": ["sleuth schema --out docs/report.schema.json"],
    "train": ["sleuth train enroll my-generator samples/"],
    "serve": ["sleuth serve --port 8000"],
    "bench": ["sleuth bench aigen"],
    "analyzers": ["sleuth analyzers"],
}


def epilog(name: str) -> str:
    """The examples block for command ``name`` (Typer ``epilog``; empty when none)."""
    ex = EXAMPLES.get(name)
    if not ex:
        return ""
    return "Examples:\n\n" + "\n\n".join(f"  {e}" for e in ex)


def version_text() -> str:
    """``sleuth --version``: the version, Python, and every model file resolved (name, file, sha256)."""
    import platform

    from .. import __version__
    from ..report import model_files

    lines = [f"sleuth {__version__} ({platform.python_implementation()} {platform.python_version()})", "models:"]
    for m in model_files():
        lines.append(f"  {m.name:32} {m.file or '(not installed)':28} {m.sha256 or ''}")
    return "\n".join(lines)
