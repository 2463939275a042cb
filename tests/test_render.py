"""Renderers: verdict lines, escaping, non-UTF-8 names in every writer, HTML structure, CLI help."""
from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from sleuth.render import Format, emit, render
from sleuth.render.html import render_html
from sleuth.render.table import render_table
from sleuth.report import Evidence, Report, audit, summarise

BAD_NAME = os.fsdecode(b"/tmp/caf\xe9 [bold red]x&amp;.png")  # latin-1 byte: not UTF-8, markup, entity


def make(path="photo.jpg", *ev, error=None):
    r = Report(path=path, width=40, height=30, format="JPEG", bytes=1234, sha256="ab" * 32, evidence=list(ev),
               error=error)
    if not error:
        r.summary = summarise(r)
    from sleuth.analyzers import select

    r.audit = audit(select(["exif", "ai-generated"]), {"index": None}, r.evidence)
    return r


def fired_map():
    heat = np.zeros((30, 40), np.float32)
    heat[5:15, 25:38] = 1.0
    return Evidence(analyzer="manipulation", kind="manipulation", verdict="manipulated", score=0.91, strength="strong",
                    details={"integrity_score": 0.91}).with_maps({"fused": heat})


def quiet_map():
    return Evidence(analyzer="ai-generated", kind="ai-generated", verdict="real", score=0.2, strength="none",
                    details={"threshold": 0.8, "fpr_target": 0.01}).with_maps({"ai-tiles": np.ones((30, 40), np.float32)})


def table_text(reports, verbose=False, width=100):
    buf = io.StringIO()
    render_table(reports, console=Console(file=buf, width=width, color_system=None), verbose=verbose)
    return buf.getvalue()


def test_one_line_per_file_with_probability_threshold_and_legend():
    reps = [make("a/photo.jpg", quiet_map()), make("a/edit.jpg", fired_map()),
            make("a/broken.jpg", error="a/broken.jpg: empty file (0 bytes)")]
    out = table_text(reps)
    row = next(line for line in out.splitlines() if "photo.jpg" in line)
    assert "no evidence" in row and "0.20<0.80" in row and row.split()[-1] == "1"  # quiet count
    edit = next(line for line in out.splitlines() if "edit.jpg" in line and "edited" in line)
    assert "0.91" in edit and "forensics" in edit
    assert "not analysed" in out and "empty file (0 bytes)" in out
    assert "legend:" in out and "1% FPR" in out and "sleuth 0." in out and "operating points" in out
    # quiet analyzers are a count; --verbose names them
    assert "ai-generated" not in row
    assert "ai-generated" in table_text(reps, verbose=True)


def test_markup_and_entities_in_names_are_shown_as_written():
    out = table_text([make(BAD_NAME, quiet_map())], width=160)
    assert "[bold red]x&amp;.png" in out and "\udce9" not in out and "caf\ufffd" in out


def test_table_at_80_columns_keeps_the_file_name():
    out = table_text([make("examples/generated/camera_exif_gps.jpg", quiet_map())], width=80)
    assert "camera_exif_gps.jpg" in out.replace("\n", "")


@pytest.mark.parametrize("fmt", list(Format))
def test_every_writer_survives_non_utf8_names(fmt, tmp_path):
    reps = [make(BAD_NAME, fired_map())]
    out = tmp_path / f"r.{fmt.value}"
    emit(reps, fmt, out)
    data = out.read_bytes()
    data.decode("utf-8")  # valid UTF-8 on disk
    if fmt == Format.json:
        assert json.loads(data)[0]["path"] == BAD_NAME  # escapes round-trip to the same str (os.fsencode-able)
    if fmt == Format.jsonl:
        assert json.loads(data.splitlines()[0])["path"] == BAD_NAME
    stream = io.StringIO()
    emit(reps, fmt, None, stream=stream)
    assert stream.getvalue()


def test_html_summary_links_cards_and_only_fired_maps():
    from sleuth.report import thumbnail

    a, b = make("dir/a.jpg", fired_map(), quiet_map()), make("dir/b.jpg", quiet_map())
    for r in (a, b):
        r._thumbnail = thumbnail(np.full((30, 40, 3), 120, np.uint8))
    page = render_html([a, b])
    assert page.count('href="#f0"') == 1 and 'id="f1"' in page and 'id="summary"' in page
    assert page.count('class="ov"') == 1  # the quiet detector's map is not shown
    assert 'type="range"' in page and 'class="scale"' in page and "data-zoom" in page
    assert "Audit trail" in page and "data/heads/aigen.json" in page
    assert "http://" not in page.split("<script>")[1] and "<link" not in page  # loads nothing


def test_html_provenance_chain_and_escaping():
    c = Evidence(analyzer="c2pa", kind="provenance", verdict="valid-untrusted", strength="moderate",
                 summary="Valid C2PA manifest <b>x</b>",
                 details={"signer": "Example <CA>", "actions": [{"action": "c2pa.opened"}, {"action": "c2pa.edited"}],
                          "ingredients": [{"title": "ai.jpg", "relationship": "parentOf",
                                           "actions": [{"action": "c2pa.created"}]}]})
    page = render_html([make(BAD_NAME, c)])
    assert "Provenance chain" in page and "c2pa.opened" in page and "ai.jpg" in page and "parentOf" in page
    assert "Example &lt;CA&gt;" in page and "<b>x</b>" not in page
    assert "[bold red]x&amp;amp;.png" in page  # the name's literal "&amp;" is escaped once


def test_render_json_is_the_contract():
    text = render([make("a.jpg", quiet_map())], "json")
    d = json.loads(text)[0]
    assert d["summary"]["ai"]["label"] == "no AI signal" and d["audit"]["sleuth_version"]


def test_cli_no_arguments_and_version():
    from sleuth.cli import app
    from sleuth.render.help import COMMON

    res = CliRunner().invoke(app, [])
    assert res.exit_code == 0 and len(COMMON) == 5
    assert all(cmd in res.stdout for cmd, _ in COMMON)
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout.startswith("sleuth ") and "clip-vit-b16" in res.stdout
    res = CliRunner().invoke(app, ["scan", "--help"])
    assert "Examples" in res.stdout and "--quiet" in res.stdout
