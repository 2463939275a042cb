"""Helpers for the service tests: an app on a TestClient, or a real uvicorn server on loopback."""
from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager

from sleuth.service import create_app
from sleuth.service.settings import ServiceSettings


def settings(tmp, **kw) -> ServiceSettings:
    base = {"data_dir": tmp, "workers": 1, "queue_size": 4, "allowed_hosts": ["testserver", "127.0.0.1"],
            "time_budget_s": 60.0}
    base.update(kw)
    return ServiceSettings(**base)


@contextmanager
def live_server(s: ServiceSettings, **app_kw):
    """Run the app under uvicorn on 127.0.0.1 (a free port) in a thread; yield (base_url, app)."""
    import uvicorn

    app = create_app(s, **app_kw)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    th = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    th.start()
    t0 = time.time()
    while not server.started:
        if time.time() - t0 > 60:
            raise RuntimeError("server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        th.join(20)
        sock.close()
