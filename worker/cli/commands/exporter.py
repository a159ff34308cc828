"""`backup-worker exporter`: the Prometheus exporter, a process of its own (Procfile, Compose).

It reads the control-plane database and the broker's Redis at each scrape; see
docs/observability.md for the metrics and the alerting rules.
"""

from __future__ import annotations

import signal
import threading
import types

import click

from db import session as db_session
from worker import settings
from worker.cli import common
from worker.metrics import exporter as metrics_exporter
from worker.metrics import repositories as metrics_repositories
from worker.telegram import repositories


@click.command("exporter")
@click.option("--address", default=None, help="interface to listen on (default EXPORTER_ADDRESS)")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="default EXPORTER_PORT")
@common.guard
def exporter(address: str | None, port: int | None) -> None:
    """Serve Prometheus metrics at http://EXPORTER_ADDRESS:EXPORTER_PORT/metrics until stopped."""
    config = settings.current()
    address = address or config.exporter_address
    port = port or config.exporter_port
    database = db_session.Database(config.database_url)
    client = metrics_exporter.redis_client(config.celery_broker_url, config.redis_sentinel_master)
    probe = None
    if config.telegram_repositories_file is not None:
        # Repositories are named: say which one is lost (docs/fleet.md, "Copies").
        connect = metrics_repositories.connector(config.telegram_api_url)
        probe = metrics_repositories.Probe(repositories.Repositories.load(config), connect)
    stop = threading.Event()

    def on_signal(signum: int, frame: types.FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        metrics_exporter.serve(
            database,
            client,
            address=address,
            port=port,
            stop=stop,
            drill_period=config.drill_period_days * 86400,
            probe=probe,
            on_ready=lambda: common.err.print(
                f"exporter: serving http://{address}:{port}/metrics", highlight=False
            ),
        )
    finally:
        database.dispose()
        if client is not None:
            client.close()
