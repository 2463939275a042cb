"""The web page in real headless Chromium (Debian's /usr/bin/chromium driven by Playwright; never a
downloaded browser): upload, verdict card, heatmap overlay, opacity slider by keyboard, stored JSON,
a phone-sized viewport. Screenshots go to out/test-artifacts/ (gitignored)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from .conftest import encode, natural_image
from .service_util import live_server, settings

CHROMIUM = os.environ.get("SLEUTH_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "out" / "test-artifacts"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    d = tmp_path_factory.mktemp("browser")
    with live_server(settings(d, no_auth=True, workers=1)) as (url, app):
        yield url


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    p = tmp_path_factory.mktemp("img") / "harbour.jpg"
    p.write_bytes(encode(natural_image(240, 320, seed=3), "JPEG", quality=88))
    return p


def _upload(page, url, image):
    page.goto(url + "/")
    page.set_input_files("#files", str(image))
    page.wait_for_selector("article.card dl.verdict", timeout=120_000)
    page.wait_for_selector("article.card canvas.overlay", state="attached", timeout=30_000)


def test_upload_verdict_heatmap_slider_json(browser, server, image):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _upload(page, server, image)
    card = page.locator("article.card").first
    text = card.inner_text()
    for label in ("Origin", "AI-generated?", "Edited?", "Copy of a known image?", "Our watermark?", "harbour.jpg"):
        assert label in text, label
    assert "false-positive rate" in text  # the AI probability is given with its FPR
    # the heatmap overlay was painted from the stored map (non-zero size, coloured pixels)
    size = page.eval_on_selector("canvas.overlay", "c => [c.width, c.height]")
    assert size[0] > 0 and size[1] > 0
    # opacity slider, driven from the keyboard
    slider = page.locator("input.opacity").first
    slider.focus()
    for _ in range(4):
        page.keyboard.press("ArrowLeft")
    assert float(page.eval_on_selector("canvas.overlay", "c => c.style.opacity")) < 0.6
    assert slider.get_attribute("aria-valuetext") == f"{slider.input_value()}%"
    page.screenshot(path=str(ARTIFACTS / "service-desktop.png"), full_page=True)
    # the stored JSON opens from the link (no rescan) and is the report of this upload
    with page.expect_popup() as pop:
        card.locator("a.json").click()
    popup = pop.value
    popup.wait_for_load_state()
    rep = json.loads(popup.inner_text("body"))
    assert rep["path"] == "harbour.jpg" and len(rep["id"]) == 32 and rep["evidence"]
    assert errors == []


def test_keyboard_reaches_the_upload_button(browser, server):
    page = browser.new_page()
    page.goto(server + "/")
    seen = []
    for _ in range(8):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
        if seen[-1] == "pick":
            break
    assert "pick" in seen


def test_phone_viewport(browser, server, image):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    _upload(page, server, image)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"page is {overflow}px wider than the phone screen"
    font = page.eval_on_selector("body", "b => parseFloat(getComputedStyle(b).fontSize)")
    assert font >= 14
    page.screenshot(path=str(ARTIFACTS / "service-phone.png"), full_page=True)
    ctx.close()


def test_copy_match_side_by_side(browser, server, tmp_path):
    import httpx

    ref = natural_image(256, 320, seed=5)
    r = httpx.post(f"{server}/v1/indexes/newsroom/images", timeout=120,
                   files={"files": ("archive.jpg", encode(ref, "JPEG", quality=92), "image/jpeg")})
    assert r.status_code == 200, r.text
    query = tmp_path / "repost.jpg"
    query.write_bytes(encode(ref[20:236, 30:290], "JPEG", quality=75))
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server + "/")
    page.wait_for_selector("#indexrow:not([hidden])")
    page.select_option("#index", "newsroom")
    page.set_input_files("#files", str(query))
    page.wait_for_selector("article.card .pair figure >> nth=1", timeout=120_000)
    pair = page.locator("article.card .pair").first
    assert pair.locator("img").count() == 2 and pair.locator(".region").count() >= 1
    assert "a copy" in page.locator("article.card").first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "service-copy-match.png"), full_page=True)


def test_keyed_server_page_asks_for_the_key(browser, tmp_path, image):
    from sleuth.service.store import Store

    _, key = Store(tmp_path).create_key("desk")
    with live_server(settings(tmp_path, workers=1)) as (url, _):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url + "/")
        page.wait_for_selector("#keybox:not([hidden])")
        page.check("#fast")
        page.set_input_files("#files", str(image))
        assert "API key" in page.locator("#status").inner_text()  # asked for the key, nothing sent
        page.fill("#apikey", key)
        page.set_input_files("#files", str(image))
        try:
            page.wait_for_selector("article.card dl.verdict", timeout=60_000)
        except Exception as exc:
            raise AssertionError(page.locator("#status").inner_text() + " | " + page.locator("#results").inner_text()) from exc
        with page.expect_popup() as pop:  # the stored JSON needs the key too: fetched, opened as a blob
            page.locator("article.card a.json").first.click()
        popup = pop.value
        popup.wait_for_load_state()
        assert json.loads(popup.inner_text("body"))["path"] == "harbour.jpg"
