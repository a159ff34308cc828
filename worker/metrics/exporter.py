"""The HTTP side of `backup-worker exporter`: /metrics from a registry holding the collector.

Nothing is counted in this process: each scrape reads the control-plane database and Redis
(worker.metrics.snapshot), so any number of workers is counted once, and an exporter restart
loses nothing.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

import redis
from prometheus_client import start_http_server
from prometheus_client.registry import CollectorRegistry

from db import session as db_session
from worker import redisconn
from worker.metrics import collector, queues, repositories, snapshot


def registry(
    database: db_session.Database,
    client: redis.Redis | None,
    *,
    drill_period: float | None = None,
    probe: repositories.Probe | None = None,
) -> CollectorRegistry:
    """A registry with only the fleet collector (no process metrics of the exporter itself)."""
    found = CollectorRegistry(auto_describe=False)
    read = functools.partial(snapshot.read, database, client)
    states = None if probe is None else probe.states
    found.register(collector.Collector(read, drill_period=drill_period, repositories=states))
    return found


def redis_client(broker_url: str, master: str | None = None) -> redis.Redis | None:
    """A client of the broker's Redis, or None when the broker is not Redis (RabbitMQ);
    `master`: the primary's name when the broker is sentinel:// (worker.redisconn)."""
    return redisconn.client(broker_url, master) if queues.is_redis(broker_url) else None


def serve(
    database: db_session.Database,
    client: redis.Redis | None,
    *,
    address: str,
    port: int,
    stop: threading.Event,
    on_ready: Callable[[], None] | None = None,
    drill_period: float | None = None,
    probe: repositories.Probe | None = None,
) -> None:
    """Serve /metrics on address:port until `stop` is set; `drill_period` in seconds."""
    served = registry(database, client, drill_period=drill_period, probe=probe)
    server, thread = start_http_server(port, addr=address, registry=served)
    try:
        if on_ready is not None:
            on_ready()
        stop.wait()
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
