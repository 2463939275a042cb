"""HTTP service: v1 API (typed reports, stored, no rescan), errors as readable 4xx, the v0.1 routes
kept as deprecated aliases, offline docs, keys CLI, metrics."""
from __future__ import annotations

import io
import json

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from sleuth.cli import app as cli_app
from sleuth.service import app as service_app
from sleuth.service import create_app
from sleuth.service.store import Store

from .conftest import encode, natural_image
from .service_util import settings


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("svc")


@pytest.fixture(scope="module")
def c(data_dir):
    """One no-auth app (loopback) with one worker, shared by this module's tests."""
    with TestClient(create_app(settings(data_dir, no_auth=True))) as client:
        yield client


def png(h=64, w=80, seed=0):
    return encode(natural_image(h, w, seed), "PNG")


# ---------------------------------------------------------------- v0.1 routes (deprecated aliases)

def test_page_and_health(c):
    assert c.get("/healthz").json()["status"] == "ok"
    page = c.get("/")
    assert page.status_code == 200 and "<input" in page.text
    assert "/v1/scan" in c.get("/static/app.js").text  # the page calls the v1 API
    assert isinstance(c.get("/api/analyzers").json(), list)


def test_scan_json_and_bad_file(c):
    files = [("files", ("good.png", png(), "image/png")), ("files", ("bad.jpg", b"not an image", "image/jpeg"))]
    r = c.post("/api/scan?fast=true", files=files)
    assert r.status_code == 200 and r.headers.get("deprecation") == "true"
    good_r, bad_r = r.json()
    assert good_r["path"] == "good.png" and good_r["error"] is None and good_r["width"] == 80
    assert bad_r["path"] == "bad.jpg" and "bad.jpg" in bad_r["error"] and "not an image" in bad_r["error"]


def test_scan_html(c):
    r = c.post("/api/scan/html?fast=true", files=[("files", ("x.jpg", encode(natural_image(64, 64)), "image/jpeg"))])
    assert r.status_code == 200 and "x.jpg" in r.text and r.text.startswith("<!doctype html>")


def test_upload_limit(c, monkeypatch):
    monkeypatch.setattr(service_app, "MAX_UPLOAD", 1000)
    r = c.post("/api/scan?fast=true", files=[("files", ("big.png", b"\x89PNG" + b"0" * 5000, "image/png"))])
    assert r.status_code == 200 and "limit" in r.json()[0]["error"]


def test_unknown_analyzer_4xx(c):
    r = c.post("/api/scan?analyzers=nope", files=[("files", ("x.png", png(8, 8), "image/png"))])
    assert r.status_code == 400 and "nope" in r.json()["error"]  # v0.1 behaviour kept on its route
    r = c.post("/v1/scan?analyzers=nope", files=[("files", ("x.png", png(8, 8), "image/png"))])
    assert r.status_code == 422 and "nope" in r.json()["error"]


# ---------------------------------------------------------------- v1

def test_v1_scan_stores_report_and_maps(c):
    r = c.post("/v1/scan?analyzers=ela,exif", files=[("files", ("a.png", png(96, 128), "image/png"))])
    assert r.status_code == 200, r.text
    (rep,) = r.json()
    assert len(rep["id"]) == 32 and rep["path"] == "a.png" and rep["width"] == 128
    assert {e["analyzer"] for e in rep["evidence"]} == {"ela", "exif"}
    assert rep["links"]["self"] == f"/v1/reports/{rep['id']}"
    assert "maps.ela.heatmap" in rep["links"] and "preview" in rep["links"]
    # the stored JSON is the same report, served without a rescan (no new file counted)
    before = _files_scanned(c)
    again = c.get(rep["links"]["self"])
    assert again.status_code == 200 and again.json() == rep
    assert _files_scanned(c) == before
    m = c.get(rep["links"]["maps.ela.heatmap"])
    assert m.status_code == 200 and m.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(m.content)).mode == "L"
    pv = c.get(rep["links"]["preview"])
    assert pv.headers["content-type"] == "image/jpeg" and Image.open(io.BytesIO(pv.content)).size[0] <= 360


def _files_scanned(c) -> float:
    total = 0.0
    for line in c.get("/metrics").text.splitlines():
        if line.startswith("sleuth_files_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_detect_and_forensics_routes_select_by_kind(c):
    files = [("files", ("a.png", png(64, 64), "image/png"))]
    f = c.post("/v1/forensics", files=files)
    assert f.status_code == 200, f.text
    kinds = {e["kind"] for e in f.json()[0]["evidence"]}
    assert kinds == {"manipulation"}


def test_readable_errors_per_file(c):
    truncated = png(64, 64)[:60]  # a PNG signature, then nothing decodable
    files = [("files", ("empty.png", b"", "image/png")), ("files", ("notes.txt", b"hello", "text/plain"))]
    r = c.post("/v1/scan?fast=true", files=files)
    assert r.status_code == 422
    body = r.json()
    assert body["status"] == 422 and "2 files not analysed" in body["error"]
    reasons = {f["file"]: (f["status"], f["reason"]) for f in body["files"]}
    assert reasons["empty.png"][0] == 422 and "empty" in reasons["empty.png"][1]
    assert reasons["notes.txt"][0] == 415 and "not an image" in reasons["notes.txt"][1]
    r = c.post("/v1/scan?fast=true", files=[("files", ("t.txt", b"hello", "text/plain"))])
    assert r.status_code == 415
    # a corrupt file that passes the signature check fails in the worker: 422, and the good file
    # of the same request is still analysed and stored
    r = c.post("/v1/scan?fast=true", files=[("files", ("cut.png", truncated, "image/png")),
                                            ("files", ("ok.png", png(), "image/png"))])
    assert r.status_code == 422
    body = r.json()
    assert [f["file"] for f in body["files"]] == ["cut.png"] and "cut.png" in body["files"][0]["reason"]
    assert [x["path"] for x in body["reports"]] == ["ok.png"]
    assert c.get(body["reports"][0]["links"]["self"]).status_code == 200
    r = c.post("/v1/scan", content=b"x", headers={"content-type": "application/json"})
    assert r.status_code == 415 and "multipart" in r.json()["error"]
    assert c.post("/v1/scan", files=[("other", ("a.png", png(), "image/png"))]).status_code == 422


def test_unknown_report_and_map_404(c):
    assert c.get("/v1/reports/" + "0" * 32).status_code == 404
    assert c.get("/v1/reports/nothex").status_code == 404
    assert c.get("/v1/reports/" + "0" * 32 + "/maps/preview").status_code == 404


def test_openapi_documents_the_real_report(c):
    spec = c.get("/openapi.json").json()
    ok = spec["paths"]["/v1/scan"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["items"]["$ref"].endswith("/StoredReport")
    stored = spec["components"]["schemas"]["StoredReport"]["properties"]
    assert {"id", "links", "evidence", "summary", "sha256"} <= set(stored)
    assert "Evidence" in spec["components"]["schemas"]
    body = spec["paths"]["/v1/scan"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["properties"]["files"]["type"] == "array"
    assert spec["paths"]["/api/scan"]["post"]["deprecated"] is True
    assert "HTTPBearer" in json.dumps(spec["components"].get("securitySchemes", {}))


def test_docs_are_served_from_local_assets(c):
    docs = c.get("/docs").text
    redoc = c.get("/redoc").text
    for page in (docs, redoc):
        assert "cdn." not in page and "https://" not in page.replace("https://fastapi.tiangolo.com", "")
    assert c.get("/static/swagger/swagger-ui-bundle.js").status_code == 200
    assert c.get("/static/swagger/swagger-ui.css").status_code == 200
    js = c.get("/static/vendor/redoc/redoc.standalone.js")
    assert js.status_code == 200 and len(js.content) > 500_000


def test_health_ready_metrics(c):
    ready = c.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True and ready.json()["workers_alive"] == 1
    text = c.get("/metrics").text
    for name in ("sleuth_requests_total", "sleuth_request_seconds_bucket", "sleuth_queue_depth",
                 "sleuth_analyzer_seconds_bucket", "sleuth_workers_alive"):
        assert name in text, name
    assert 'analyzer="ela"' in text  # per-analyzer time from the worker


def test_page_has_no_external_assets(c):
    page = c.get("/")
    assert "Content-Security-Policy" in page.headers and "script-src 'self'" in page.headers["Content-Security-Policy"]
    for asset in ("/", "/static/app.js", "/static/app.css"):
        assert "http://" not in c.get(asset).text and "https://" not in c.get(asset).text


# ---------------------------------------------------------------- keys CLI and store

def test_keys_cli_create_list_revoke(tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli_app, ["serve", "keys", "create", "desk one", "--data", str(tmp_path)])
    assert res.exit_code == 0, res.output
    key = res.stdout.strip().splitlines()[-1]
    assert key.startswith("slk_") and " " not in key and len(key) > 40
    store = Store(tmp_path)
    assert store.check_key(key)["name"] == "desk one"
    assert key not in (tmp_path / "service.sqlite3").read_bytes().decode("latin-1")  # stored hashed
    listed = runner.invoke(cli_app, ["serve", "keys", "list", "--data", str(tmp_path)])
    assert listed.exit_code == 0 and "desk one" in listed.stdout and key not in listed.stdout
    assert runner.invoke(cli_app, ["serve", "keys", "revoke", "desk one", "--data", str(tmp_path)]).exit_code == 0
    assert store.check_key(key) is None
    assert runner.invoke(cli_app, ["serve", "keys", "revoke", "nobody", "--data", str(tmp_path)]).exit_code == 1


def test_store_retention_and_atomic_report(tmp_path):
    store = Store(tmp_path)
    rid = store.save_report({"path": "a"}, {"preview": ("image/jpeg", b"x")}, retention_s=-1)
    assert store.get_report(rid) is None and store.get_map(rid, "preview") is None  # expired
    keep = store.save_report({"path": "b"}, {}, retention_s=3600)
    assert store.purge() == 1 and store.get_report(keep)["path"] == "b"
    with pytest.raises(Exception):  # a failing map insert rolls the report back too
        store.save_report({"path": "c"}, {"m": ("image/png", b"1"), "m ": None}, retention_s=3600, report_id="f" * 32)
    assert store.get_report("f" * 32) is None


def test_no_auth_refused_off_loopback(tmp_path):
    from sleuth.errors import UsageError

    with pytest.raises(UsageError, match="non-loopback"):
        create_app(settings(tmp_path, no_auth=True, host="0.0.0.0"))
    res = CliRunner().invoke(cli_app, ["serve", "--host", "0.0.0.0", "--no-auth", "--data", str(tmp_path)])
    assert res.exit_code == 2 and "refused" in res.output


# ---------------------------------------------------------------- indexes and watermark routes

def test_index_add_search_and_scan_against_it(c, data_dir):
    ref = encode(natural_image(256, 320, seed=5), "JPEG", quality=92)
    other = encode(natural_image(256, 320, seed=9), "JPEG", quality=92)
    r = c.post("/v1/indexes/desk-refs/images", files=[("files", ("ref.jpg", ref, "image/jpeg")),
                                                      ("files", ("other.jpg", other, "image/jpeg"))])
    assert r.status_code == 200, r.text
    body = r.json()
    assert [a["file"] for a in body["added"]] == ["ref.jpg", "other.jpg"] and body["count"] == 2
    again = c.post("/v1/indexes/desk-refs/images", files=[("files", ("ref-again.jpg", ref, "image/jpeg"))]).json()
    assert again["added"] == [] and again["duplicates"][0]["file"] == "ref-again.jpg"
    # a re-encoded crop of the reference is found; reference paths are stored names, not client paths
    crop = encode(natural_image(256, 320, seed=5)[20:236, 30:290], "JPEG", quality=75)
    s = c.post("/v1/indexes/desk-refs/search?top_k=2", files=[("files", ("query.jpg", crop, "image/jpeg"))])
    assert s.status_code == 200, s.text
    best = s.json()[0]["matches"][0]
    assert best["id"] == body["added"][0]["id"] and best["is_copy"] is True and "/" not in best["path"]
    rep = c.post("/v1/scan?analyzers=copy&index=desk-refs", files=[("files", ("query.jpg", crop, "image/jpeg"))])
    assert rep.status_code == 200 and rep.json()[0]["evidence"][0]["verdict"] == "copy"
    assert str(data_dir) not in rep.text  # no server paths in the report
    assert c.get("/v1/indexes").json() == [{"name": "desk-refs", "references": 2}]
    rid = best["id"]
    pv = c.get(f"/v1/indexes/desk-refs/references/{rid}/preview")
    assert pv.status_code == 200 and pv.headers["x-image-size"] == "320x256"
    assert c.get("/v1/indexes/desk-refs/references/999/preview").status_code == 404
    assert c.post("/v1/indexes/nope/search", files=[("files", ("q.jpg", crop, "image/jpeg"))]).status_code == 404


def test_index_names_cannot_traverse(c, data_dir):
    files = [("files", ("a.png", png(), "image/png"))]
    for bad in ("..", ".hidden", "a.b", "x" * 65, "%2e%2e"):
        r = c.post(f"/v1/indexes/{bad}/images", files=files)
        assert r.status_code in (404, 422), (bad, r.status_code)
    assert c.post("/v1/indexes/..%2F..%2Fetc/images", files=files).status_code in (404, 422)
    assert not (data_dir.parent / "etc").exists() and not (data_dir / "indexes" / "..").resolve().name == "etc"


def test_watermark_embed_then_verify(c):
    img = encode(natural_image(256, 256, seed=2), "PNG")
    key = "correct horse battery staple"
    r = c.post("/v1/watermark/embed", files=[("files", ("pic.png", img, "image/png"))],
               data={"key": key, "message": "desk42"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png" and float(r.headers["x-sleuth-psnr"]) > 30
    assert 'filename="pic-marked.png"' in r.headers["content-disposition"]
    v = c.post("/v1/watermark/verify", files=[("files", ("m.png", r.content, "image/png")),
                                              ("files", ("orig.png", img, "image/png"))], data={"key": key})
    assert v.status_code == 200, v.text
    marked, orig = v.json()
    assert marked["detected"] is True and marked["message"] == "desk42" and marked["p_value"] < 1e-6
    assert orig["detected"] is False
    assert key not in v.text
    nokey = c.post("/v1/watermark/verify", files=[("files", ("m.png", r.content, "image/png"))])
    assert nokey.status_code == 422 and "key" in nokey.json()["error"]
