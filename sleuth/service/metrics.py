"""Prometheus metrics of one app instance (its own registry, so several apps can live in one process)."""
from __future__ import annotations

from typing import Any

from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120)


class Metrics:
    """Requests, latencies, queue depth, busy workers, per-analyzer time, refusals.

    Parameters
    ----------
    state : object
        The app state (``pool`` and ``inflight`` are read when metrics are scraped).
    """

    def __init__(self, state: Any):
        r = self.registry = CollectorRegistry()
        self.requests = Counter("sleuth_requests", "HTTP requests", ["route", "method", "status"], registry=r)
        self.latency = Histogram("sleuth_request_seconds", "Request latency", ["route"], buckets=_BUCKETS, registry=r)
        self.analyzer = Histogram("sleuth_analyzer_seconds", "Time per analyzer per image", ["analyzer"],
                                  buckets=_BUCKETS, registry=r)
        self.files = Counter("sleuth_files", "Files scanned, by outcome status", ["status"], registry=r)
        self.rejected = Counter("sleuth_rejected", "Requests refused before scanning", ["reason"], registry=r)
        Gauge("sleuth_queue_depth", "Jobs waiting for a worker", registry=r).set_function(lambda: state.pool.waiting)
        Gauge("sleuth_workers_busy", "Workers running a job", registry=r).set_function(lambda: state.pool.busy)
        Gauge("sleuth_workers_alive", "Worker processes alive", registry=r).set_function(lambda: state.pool.alive())
        Gauge("sleuth_worker_restarts", "Workers killed and replaced", registry=r).set_function(lambda: state.pool.restarts)
        Gauge("sleuth_requests_in_progress", "Admitted scan requests", registry=r).set_function(lambda: state.inflight)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one request.

        Parameters
        ----------
        route : str
            Route template (``/v1/reports/{report_id}``), never the raw path.
        method : str
        status : int
        seconds : float

        Returns
        -------
        None
        """
        self.requests.labels(route=route, method=method, status=str(status)).inc()
        self.latency.labels(route=route).observe(seconds)

    def render(self) -> Response:
        """The exposition text.

        Returns
        -------
        fastapi.responses.Response
        """
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
