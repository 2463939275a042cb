"""HTTP service: same JSON contract as the CLI, bounded uploads, bad files as per-file errors."""
from __future__ import annotations

from fastapi.testclient import TestClient

from sleuth.service import app as service_app
from sleuth.service import create_app

from .conftest import encode, natural_image


def client():
    return TestClient(create_app())


def test_page_and_health():
    c = client()
    assert c.get("/healthz").json()["status"] == "ok"
    page = c.get("/")
    assert page.status_code == 200 and "<input" in page.text and "/api/scan" in page.text
    assert isinstance(c.get("/api/analyzers").json(), list)


def test_scan_json_and_bad_file():
    c = client()
    good = encode(natural_image(64, 80), "PNG")
    files = [("files", ("good.png", good, "image/png")), ("files", ("bad.jpg", b"not an image", "image/jpeg"))]
    r = c.post("/api/scan?fast=true", files=files)
    assert r.status_code == 200
    good_r, bad_r = r.json()
    assert good_r["path"] == "good.png" and good_r["error"] is None and good_r["width"] == 80
    assert bad_r["path"] == "bad.jpg" and "bad.jpg" in bad_r["error"] and "not an image" in bad_r["error"]


def test_scan_html():
    c = client()
    r = c.post("/api/scan/html?fast=true", files=[("files", ("x.jpg", encode(natural_image(64, 64)), "image/jpeg"))])
    assert r.status_code == 200 and "x.jpg" in r.text and r.text.startswith("<!doctype html>")


def test_upload_limit(monkeypatch):
    monkeypatch.setattr(service_app, "MAX_UPLOAD", 1000)
    r = client().post("/api/scan?fast=true", files=[("files", ("big.png", b"\x89PNG" + b"0" * 5000, "image/png"))])
    assert r.status_code == 200 and "limit" in r.json()[0]["error"]


def test_unknown_analyzer_400():
    r = client().post("/api/scan?analyzers=nope", files=[("files", ("x.png", encode(natural_image(8, 8), "PNG"), "image/png"))])
    assert r.status_code == 400
