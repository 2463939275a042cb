"""Service security: keys, Host check, body limits before disk, admission, a stuck file killed at the
budget while /healthz answers, SSRF refusals, names that try path traversal, keys kept out of logs.

These run a real uvicorn server on 127.0.0.1 (a free port) in a thread; every other server they
talk to is a loopback server started here."""
from __future__ import annotations

import http.server
import io
import logging
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image

from sleuth.service.fetch import fetch_url, is_public
from sleuth.service.limits import RequestError
from sleuth.service.store import Store

from .conftest import encode, natural_image
from .service_util import live_server, settings


def png(h=48, w=64):
    return encode(natural_image(h, w), "PNG")


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    """A keyed server (rate 60/min, burst 5) and a valid key."""
    d = tmp_path_factory.mktemp("keyed")
    _, key = Store(d).create_key("tester")
    with live_server(settings(d, rate_per_minute=600, rate_burst=50, max_request_bytes=200_000,
                              max_files=3, max_pixels=1_000_000)) as (url, app):
        yield url, key, d, app


def auth(key):
    return {"Authorization": f"Bearer {key}"}


def test_no_key_wrong_key_revoked_key_401(keyed):
    url, key, d, _ = keyed
    files = {"files": ("a.png", png(), "image/png")}
    assert httpx.post(f"{url}/v1/scan?fast=true", files=files).status_code == 401
    r = httpx.post(f"{url}/v1/scan?fast=true", files=files, headers=auth("slk_wrong"))
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer" and "API key" in r.json()["error"]
    assert httpx.get(f"{url}/v1/reports/{'0' * 32}").status_code == 401
    assert httpx.post(f"{url}/api/scan", files=files).status_code == 401  # the deprecated alias too
    _, other = Store(d).create_key("temp")
    assert httpx.get(f"{url}/v1/analyzers", headers=auth(other)).status_code == 200
    Store(d).revoke_key("temp")
    assert httpx.get(f"{url}/v1/analyzers", headers=auth(other)).status_code == 401
    assert httpx.get(f"{url}/healthz").status_code == 200 and httpx.get(f"{url}/info").json()["auth"] is True


def test_wrong_host_400_before_anything(keyed):
    url, key, _, _ = keyed
    r = httpx.get(f"{url}/healthz", headers={"Host": "evil.example"})
    assert r.status_code == 400 and "evil.example" in r.json()["error"]
    r = httpx.post(f"{url}/v1/scan", headers={**auth(key), "Host": "rebind.attacker:8000"},
                   files={"files": ("a.png", png(), "image/png")})
    assert r.status_code == 400


def _tmp_snapshot():
    return set(os.listdir(tempfile.gettempdir()))


def test_oversize_413_before_disk(keyed):
    url, key, d, _ = keyed
    before_tmp, before_data = _tmp_snapshot(), sorted(os.listdir(d))
    big = b"\x89PNG\r\n\x1a\n" + os.urandom(400_000)
    r = httpx.post(f"{url}/v1/scan", headers=auth(key), files={"files": ("big.png", big, "image/png")})
    assert r.status_code == 413 and "200000-byte limit" in r.json()["error"]
    sent = {"n": 0}

    def stream():  # chunked, no Content-Length: cut off while streaming
        boundary = b"--xyz\r\nContent-Disposition: form-data; name=\"files\"; filename=\"s.png\"\r\n\r\n"
        yield boundary
        for _ in range(4000):  # 64 MiB offered against a 200 kB limit
            sent["n"] += 1
            yield b"\0" * 16384
    r = httpx.post(f"{url}/v1/scan", headers={**auth(key), "Content-Type": "multipart/form-data; boundary=xyz"},
                   content=stream(), timeout=30)
    assert r.status_code == 413  # (uvicorn drains and discards what the client still sends)
    assert _tmp_snapshot() - before_tmp == set()  # nothing spooled to a temp file
    assert sorted(os.listdir(d)) == before_data  # nor stored


def test_body_reader_stops_at_the_limit():
    import asyncio

    from sleuth.service.limits import read_body

    pulled = {"n": 0}

    class FakeRequest:
        headers: dict = {}

        async def stream(self):
            for _ in range(1000):
                pulled["n"] += 1
                yield b"x" * 1000

    with pytest.raises(RequestError) as exc:
        asyncio.run(read_body(FakeRequest(), 10_500))
    assert exc.value.status == 413 and pulled["n"] == 11  # stopped at the first chunk past the limit


def test_max_files_and_max_pixels_413(keyed):
    url, key, _, _ = keyed
    files = [("files", (f"{i}.png", png(16, 16), "image/png")) for i in range(4)]
    r = httpx.post(f"{url}/v1/scan?fast=true", headers=auth(key), files=files)
    assert r.status_code == 413 and "at most 3" in r.json()["error"]
    buf = io.BytesIO()
    Image.new("L", (2000, 1000), 7).save(buf, "PNG")  # 2 MP (tiny file) against a 1 MP limit
    r = httpx.post(f"{url}/v1/scan?fast=true", headers=auth(key), files={"files": ("wide.png", buf.getvalue(), "image/png")})
    assert r.status_code == 413 and "megapixel" in r.json()["files"][0]["reason"]


def test_path_traversal_in_names(keyed):
    url, key, d, _ = keyed
    r = httpx.post(f"{url}/v1/scan?analyzers=exif", headers=auth(key),
                   files={"files": ("../../../../etc/passwd.png", png(), "image/png")})
    assert r.status_code == 200, r.text
    rep = r.json()[0]
    assert rep["path"] == "passwd.png"
    assert not os.path.exists(os.path.join(d, "..", "etc"))
    for bad in ("..%2F..%2Fservice.sqlite3", "../../etc/passwd", "%2e%2e"):
        assert httpx.get(f"{url}/v1/reports/{bad}", headers=auth(key)).status_code == 404
        assert httpx.get(f"{url}/v1/reports/{rep['id']}/maps/{bad}", headers=auth(key)).status_code == 404


def test_rate_limit_429_retry_after(tmp_path):
    _, key = Store(tmp_path).create_key("burst")
    with live_server(settings(tmp_path, rate_per_minute=6, rate_burst=2)) as (url, _):
        codes = [httpx.get(f"{url}/v1/analyzers", headers=auth(key)) for _ in range(3)]
        assert [r.status_code for r in codes] == [200, 200, 429]
        assert int(codes[-1].headers["retry-after"]) >= 1 and "rate limit" in codes[-1].json()["error"]


def test_keys_never_in_logs(keyed, caplog):
    url, key, _, _ = keyed
    caplog.set_level(logging.DEBUG)
    for lg in ("uvicorn", "uvicorn.access", "uvicorn.error", "sleuth.service"):
        logging.getLogger(lg).setLevel(logging.DEBUG)
    time.sleep(1.2)  # one rate token back
    httpx.get(f"{url}/v1/analyzers", headers=auth(key))
    httpx.get(f"{url}/v1/analyzers", headers=auth(key + "x"))
    assert caplog.records  # the access log did record the requests
    text = "\n".join(r.getMessage() + " " + str(r.args) for r in caplog.records)
    assert key not in text and key[4:20] not in text


# ------------------------------------------------------------ a stuck file, a full queue

@pytest.fixture(scope="module")
def stalling(tmp_path_factory):
    d = tmp_path_factory.mktemp("stall")
    env = {"SLEUTH_ANALYZER_MODULES": "tests.service_stall"}
    with live_server(settings(d, no_auth=True, workers=1, queue_size=0, time_budget_s=4.0),
                     worker_env=env) as (url, app):
        yield url, app


def test_stuck_file_killed_at_budget_while_healthz_answers(stalling):
    url, app = stalling
    stuck = encode(natural_image(20, 13), "PNG")
    with ThreadPoolExecutor(1) as ex:
        t0 = time.monotonic()
        fut = ex.submit(httpx.post, f"{url}/v1/scan?fast=true", files={"files": ("stuck.png", stuck, "image/png")}, timeout=60)
        time.sleep(1.0)
        worst = 0.0
        while not fut.done():
            h0 = time.monotonic()
            assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
            worst = max(worst, time.monotonic() - h0)
            # queue_size=0, one worker busy: a second scan is refused at once, not queued
            busy = httpx.post(f"{url}/v1/scan?fast=true", files={"files": ("b.png", png(), "image/png")}, timeout=5)
            if not fut.done():
                assert busy.status_code == 503 and int(busy.headers["retry-after"]) >= 1
            time.sleep(0.3)
        r = fut.result()
        elapsed = time.monotonic() - t0
    assert r.status_code == 422 and "time budget" in r.json()["files"][0]["reason"]
    assert 3.5 < elapsed < 15 and worst < 1.0
    assert app.state.sleuth.pool.restarts == 1
    ok = httpx.post(f"{url}/v1/scan?fast=true", files={"files": ("fine.png", png(), "image/png")}, timeout=60)
    assert ok.status_code == 200  # the replacement worker serves the next request


# ------------------------------------------------------------ SSRF

class _Handler(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []
    redirect_to: str = ""

    def do_GET(self):  # noqa: N802
        type(self).hits.append(self.path)
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", type(self).redirect_to)
            self.end_headers()
            return
        body = png()
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture()
def origin():
    """Two loopback HTTP servers: A (the one a test may allow) and B (the target of a redirect)."""
    servers = []
    for _ in range(2):
        h = type("H", (_Handler,), {"hits": [], "redirect_to": ""})
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), h)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
    yield servers
    for s in servers:
        s.shutdown()


def test_url_fetch_off_by_default(keyed):
    url, key, _, _ = keyed
    r = httpx.post(f"{url}/v1/scan", headers=auth(key), files={"urls": (None, "http://example.com/a.png")})
    assert r.status_code == 422 and "does not fetch URLs" in r.json()["error"]


def test_ssrf_refusals(origin):
    a, b = origin
    pa, pb = a.server_address[1], b.server_address[1]
    only_a = lambda ip, port: ip == "127.0.0.1" and port == pa  # noqa: E731
    # the allowed loopback server works: the refusals below are the policy, not a broken fetcher
    assert fetch_url(f"http://127.0.0.1:{pa}/img.png", max_bytes=1 << 20, allow=only_a)[:4] == b"\x89PNG"
    cases = [f"http://127.0.0.1:{pb}/x.png", f"http://localhost:{pb}/x.png",  # DNS name -> 127.0.0.1
             "http://169.254.169.254/latest/meta-data/", "http://[::1]:80/", "http://10.0.0.1/",
             "http://0.0.0.0/", "http://[::ffff:127.0.0.1]/", "file:///etc/passwd", "gopher://127.0.0.1/",
             f"http://user:pw@127.0.0.1:{pa}/"]
    for u in cases:
        with pytest.raises(RequestError) as exc:
            fetch_url(u, max_bytes=1 << 20, allow=only_a if "user" in u else (lambda ip, port: False))
        assert exc.value.status == 422, u
    # a name that resolves to loopback through a (test) resolver
    with pytest.raises(RequestError, match="127.0.0.1"):
        fetch_url("http://images.example/x.png", max_bytes=1 << 20, resolver=lambda h, p: ["93.184.216.34", "127.0.0.1"])
    # a redirect from the allowed server to another loopback server is refused at the redirect
    a.RequestHandlerClass.redirect_to = f"http://127.0.0.1:{pb}/secret"
    with pytest.raises(RequestError, match="loopback"):
        fetch_url(f"http://127.0.0.1:{pa}/redirect", max_bytes=1 << 20, allow=only_a)
    assert a.RequestHandlerClass.hits and b.RequestHandlerClass.hits == []  # B was never contacted
    with pytest.raises(RequestError) as big:
        fetch_url(f"http://127.0.0.1:{pa}/img.png", max_bytes=100, allow=only_a)
    assert big.value.status == 413
    assert not is_public("169.254.169.254") and not is_public("100.64.0.1") and is_public("93.184.216.34")


def test_ssrf_through_the_api(tmp_path, origin):
    a, b = origin
    with live_server(settings(tmp_path, no_auth=True, url_fetch=True)) as (url, app):
        r = httpx.post(f"{url}/v1/scan?fast=true", files={"urls": (None, f"http://127.0.0.1:{b.server_address[1]}/x.png")})
        assert r.status_code == 422 and "loopback" in r.json()["error"]
        r = httpx.post(f"{url}/v1/scan?fast=true", files={"urls": (None, "http://169.254.169.254/latest/meta-data/")})
        assert r.status_code == 422
        assert b.RequestHandlerClass.hits == []
        pa = a.server_address[1]
        app.state.sleuth.fetch_overrides = {"allow": lambda ip, port: port == pa}
        r = httpx.post(f"{url}/v1/scan?fast=true", files={"urls": (None, f"http://127.0.0.1:{pa}/photo.png")})
        assert r.status_code == 200 and r.json()[0]["path"] == "photo.png"


# ------------------------------------------------------------ 100 MP uploads in parallel

def _big_png() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (10000, 10000), 128).save(buf, "PNG", compress_level=1)  # 100 MP in ~0.5 MB
    return buf.getvalue()


@pytest.mark.slow
def test_parallel_100mp_uploads_stay_within_the_memory_bound(tmp_path):
    import psutil

    big = _big_png()
    # default pixel limit (50 MP): refused from the header, before any decoding
    with live_server(settings(tmp_path / "a", no_auth=True, workers=2)) as (url, _):
        with ThreadPoolExecutor(6) as ex:
            rs = list(ex.map(lambda i: httpx.post(f"{url}/v1/scan?fast=true", timeout=60,
                                                  files={"files": (f"{i}.png", big, "image/png")}), range(6)))
        assert {r.status_code for r in rs} == {413}
    # pixel limit raised to 110 MP: 2 uploads decode in parallel on 2 workers; the process tree
    # (this test process, which hosts the server, plus the workers) stays under the stated bound
    s = settings(tmp_path / "b", no_auth=True, workers=2, queue_size=2, max_pixels=110_000_000,
                 max_request_bytes=8 << 20)
    bound = s.memory_bound()
    me = psutil.Process()
    peak = {"rss": 0}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            rss = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    rss += p.memory_info().rss
                except psutil.Error:
                    pass
            peak["rss"] = max(peak["rss"], rss)
            time.sleep(0.1)

    with live_server(s) as (url, _):
        th = threading.Thread(target=sample, daemon=True)
        th.start()
        with ThreadPoolExecutor(2) as ex:
            rs = list(ex.map(lambda i: httpx.post(f"{url}/v1/scan?analyzers=exif", timeout=120,
                                                  files={"files": (f"{i}.png", big, "image/png")}), range(2)))
        stop.set()
        th.join()
    assert [r.status_code for r in rs] == [200] * 2, [r.text[:200] for r in rs]
    assert rs[0].json()[0]["width"] == 10000
    print(f"peak RSS {peak['rss'] / 2**20:.0f} MB, bound {bound / 2**20:.0f} MB")
    assert peak["rss"] < bound


def test_cors_off_by_default_and_on_for_named_origins(tmp_path):
    from fastapi.testclient import TestClient

    from sleuth.service import create_app

    pre = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    with TestClient(create_app(settings(tmp_path / "off", no_auth=True))) as c:
        r = c.options("/v1/scan", headers=pre)
        assert "access-control-allow-origin" not in r.headers
        assert "access-control-allow-origin" not in c.get("/healthz", headers={"Origin": "https://evil.example"}).headers
    s = settings(tmp_path / "on", no_auth=True, cors_origins=["https://desk.example"])
    with TestClient(create_app(s)) as c:
        ok = c.options("/v1/scan", headers={**pre, "Origin": "https://desk.example"})
        assert ok.headers.get("access-control-allow-origin") == "https://desk.example"
        assert "access-control-allow-origin" not in c.options("/v1/scan", headers=pre).headers


def test_pool_keeps_a_worker_for_quick_jobs():
    import asyncio

    from sleuth.service.workers import WorkerPool

    async def scenario():
        pool = WorkerPool(2, reserve=1, small_cost=10)
        # no processes needed to check the scheduling: two stand-in workers
        pool._started = True
        pool._idle = ["w1", "w2"]
        big1 = await pool._acquire(100, time.monotonic() + 1)  # takes one worker
        with pytest.raises(TimeoutError):  # a second large job may not take the last one
            await pool._acquire(100, time.monotonic() + 0.2)
        quick = await pool._acquire(1, time.monotonic() + 1)  # a quick job gets it at once
        waiters = [asyncio.ensure_future(pool._acquire(c, time.monotonic() + 2)) for c in (100, 5)]
        await asyncio.sleep(0.01)
        pool._release(big1)  # the freed worker goes to the cheapest waiter
        await asyncio.sleep(0.01)
        assert waiters[1].done() and not waiters[0].done()
        pool._release(quick)  # now one is busy (quick), one idle would be the reserve... large waits
        await asyncio.sleep(0.01)
        assert not waiters[0].done()
        pool._release(waiters[1].result())  # two idle: the large job may take one
        await asyncio.sleep(0.01)
        assert waiters[0].done()

    asyncio.run(scenario())
