"""The HTML report in real headless Chromium: overlay, opacity slider, zoom, summary links.

Uses the system Chromium (Debian ``chromium``) through Playwright's Python API with
``executable_path``; never downloads a browser. Skips cleanly when either is absent. The
screenshot is kept under ``out/test-artifacts/`` (gitignored).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "out" / "test-artifacts"


def _report():
    from sleuth.analyzers import select
    from sleuth.report import Evidence, Report, audit, summarise, thumbnail

    yy, xx = np.mgrid[0:240, 0:320]
    rgb = np.dstack([(xx * 0.8) % 256, (yy * 1.0) % 256, np.full_like(xx, 140)]).astype(np.uint8)
    heat = np.zeros((240, 320), np.float32)
    heat[40:120, 180:290] = 1.0
    ev = [Evidence(analyzer="manipulation", kind="manipulation", verdict="manipulated", score=0.93, strength="strong",
                   summary="signs of manipulation from copy-move", details={"integrity_score": 0.93})
          .with_maps({"fused": heat}),
          Evidence(analyzer="exif", kind="provenance", verdict="camera", strength="weak", details={"make": "Canon"})]
    r = Report(path="/very/long/path/" + "deeply-nested-folder/" * 8 + "photo with a long name.jpg", width=320,
               height=240, format="JPEG", bytes=1000, sha256="0" * 64, evidence=ev)
    r.summary = summarise(r)
    r.audit = audit(select(["exif"]), {}, ev)
    r._thumbnail = thumbnail(rgb)
    return r


def test_overlay_slider_and_zoom_in_chromium(tmp_path):
    if not CHROMIUM:
        pytest.skip("no system chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    from sleuth.render.html import render_html

    page_file = tmp_path / "report.html"
    page_file.write_text(render_html([_report(), _report()]), encoding="utf-8")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        except Exception as exc:  # a broken install is a skip here, not a failure of the report
            pytest.skip(f"chromium does not start: {exc}")
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            requests = []
            page.on("request", lambda req: requests.append(req.url))
            page.goto(page_file.as_uri())
            ov = page.locator("#ov-0-0")
            assert ov.is_visible() and ov.evaluate("e => e.complete && e.naturalWidth > 0")
            box = ov.bounding_box()
            assert box and box["width"] > 100
            assert abs(float(ov.evaluate("e => getComputedStyle(e).opacity")) - 0.7) < 1e-6
            slider = page.locator("#op-ov-0-0")
            slider.fill("25")  # fires input: the overlay follows
            assert abs(float(ov.evaluate("e => getComputedStyle(e).opacity")) - 0.25) < 1e-6
            assert page.locator(".scale").first.is_visible()
            # paths wrap: no horizontal overflow of the page
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
            page.screenshot(path=str(ARTIFACTS / "html_report.png"), full_page=True)
            # click-to-zoom fills the viewport, Escape closes it
            page.locator("#f0 [data-zoom]").first.click()
            fig = page.locator("#f0 figure.map").first
            assert "zoomed" in fig.get_attribute("class")
            assert fig.bounding_box()["width"] >= 1000
            page.screenshot(path=str(ARTIFACTS / "html_report_zoomed.png"))
            page.keyboard.press("Escape")
            assert "zoomed" not in fig.get_attribute("class")
            # the summary links to each file
            page.locator('#summary a[href="#f1"]').click()
            assert page.evaluate("location.hash") == "#f1"
            assert all(u.startswith(("file:", "data:")) for u in requests)  # offline: nothing fetched
        finally:
            browser.close()
