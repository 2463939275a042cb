"""One way in: every command's JSON has a published schema, and the commands share one pipeline."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from sleuth.cli import app
from sleuth.results import SCHEMAS, schema_of

DOCS = Path(__file__).resolve().parents[1] / "docs" / "schemas"
runner = CliRunner()


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_committed_schema_is_current(name):
    committed = json.loads((DOCS / f"{name}.schema.json").read_text())
    assert committed == json.loads(json.dumps(schema_of(name))), f"regenerate: sleuth schema --all docs/schemas ({name})"


def _validate(name: str, doc: object) -> None:
    schema = json.loads((DOCS / f"{name}.schema.json").read_text())
    jsonschema.validate(doc, schema)


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    from skimage import data

    p = tmp_path_factory.mktemp("img") / "coffee.jpg"
    Image.fromarray(data.coffee()).resize((320, 214)).save(p, quality=90)
    return p


def test_scan_and_forensics_json_validate_against_published_schemas(photo, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    res = runner.invoke(app, ["scan", str(photo), str(bad), "--fast", "--format", "json"])
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    _validate("scan", doc)
    assert [r["path"] for r in doc] == [str(photo), str(bad)] and doc[1]["error"]
    res = runner.invoke(app, ["forensics", str(photo), str(bad), "--out", str(tmp_path / "m"), "--format", "json"])
    assert res.exit_code == 1
    _validate("forensics", json.loads(res.stdout))
    with pytest.raises(jsonschema.ValidationError):  # the check can fail: a row without its path is refused
        _validate("forensics", [{"error": None}])


def test_forensics_equals_scan_with_the_forensic_analyzers(photo, tmp_path):
    """`sleuth forensics` is a selection of analyzers: same maps and scores as `sleuth scan --analyzers`."""
    from sleuth.results import forensic_analyzers

    res = runner.invoke(app, ["forensics", str(photo), "--out", str(tmp_path / "f"), "--format", "json"])
    assert res.exit_code == 0, res.output
    row = json.loads(res.stdout)[0]
    res = runner.invoke(app, ["scan", str(photo), "--analyzers", ",".join(forensic_analyzers()),
                              "--maps-dir", str(tmp_path / "s"), "--format", "json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)[0]
    fused = next(e for e in rep["evidence"] if e["analyzer"] == "manipulation")
    assert row["score"] == fused["score"] and row["verdict"] == fused["verdict"]
    for e in rep["evidence"]:
        if e["analyzer"] in row["analyzers"]:
            assert row["analyzers"][e["analyzer"]]["score"] == e["score"]
    scan_maps = {("fused" if e["analyzer"] == "manipulation" else e["analyzer"]): next(iter(e["details"]["maps"].values()))
                 for e in rep["evidence"] if e["details"].get("maps")}
    assert set(scan_maps) == set(row["maps"]) and "fused" in scan_maps
    for k, p in row["maps"].items():
        a, b = np.asarray(Image.open(p)), np.asarray(Image.open(scan_maps[k]))
        assert Path(p).name == Path(scan_maps[k]).name and np.array_equal(a, b)


def test_unknown_option_is_a_usage_error():
    from sleuth.errors import UsageError
    from sleuth.options import parse_options

    with pytest.raises(UsageError, match="wtermark_keys: unknown option"):
        parse_options({"wtermark_keys": ["x"]})
    assert parse_options({"fpr": 1e-3}).known_watermark_fpr == 1e-3  # the v0.1 alias
