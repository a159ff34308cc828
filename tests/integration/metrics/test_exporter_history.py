"""The exporter's newer series over HTTP: job run times, the previous backup's size, failed
verifications, the drill period, worker heartbeats with spool space, and build info."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
import redis
from sqlalchemy import text

from db import session
from tests.integration.metrics import rows, test_repository_up, test_wal_window
from tests.integration.metrics.test_exporter import free_port, scrape, value
from tests.unit.metrics.test_prometheus_rules import NAME, RULES, panel_exprs
from worker.contract import tasks
from worker.metrics import counters, exporter, workers
from worker.postgres import slots

DAY = 86400.0


@pytest.fixture
def url(database: session.Database, redis_client: redis.Redis) -> Iterator[str]:
    port, stop, ready = free_port(), threading.Event(), threading.Event()
    thread = threading.Thread(
        target=exporter.serve,
        args=(database, redis_client),
        kwargs={
            "address": "127.0.0.1",
            "port": port,
            "stop": stop,
            "on_ready": ready.set,
            "drill_period": 7 * DAY,
        },
    )
    thread.start()
    assert ready.wait(10)
    yield f"http://127.0.0.1:{port}/metrics"
    stop.set()
    thread.join(10)


def test_job_durations_are_a_histogram_by_type_and_outcome(
    url: str, database: session.Database
) -> None:
    rows.job(database, "proj-a", "completed", ago="1 hour", ran="3 seconds")
    rows.job(database, "proj-a", "completed", ago="2 hours", ran="100 seconds")
    rows.job(database, "proj-b", "failed", ago="1 hour", ran="2 hours")
    _, samples = scrape(url)

    name = "backup_worker_job_duration_seconds"
    done = {"type": "backup", "outcome": "completed"}
    assert value(samples, f"{name}_count", **done) == 2
    assert value(samples, f"{name}_sum", **done) == pytest.approx(103, abs=0.01)
    assert value(samples, f"{name}_bucket", le="1.0", **done) == 0
    assert value(samples, f"{name}_bucket", le="5.0", **done) == 1
    assert value(samples, f"{name}_bucket", le="300.0", **done) == 2
    assert value(samples, f"{name}_bucket", le="+Inf", **done) == 2
    failed = {"type": "backup", "outcome": "failed"}
    assert value(samples, f"{name}_bucket", le="3600.0", **failed) == 0
    assert value(samples, f"{name}_bucket", le="7200.0", **failed) == 1
    labels = {key for s in samples if s.name.startswith(name) for key in s.labels}
    assert labels == {"type", "outcome", "le"}  # never a project: bounded by design


def test_the_previous_size_and_failed_verifications_are_per_project(
    url: str, database: session.Database
) -> None:
    rows.backup(database, "proj-shrunk", ago="2 days", size=5000)
    rows.backup(database, "proj-shrunk", ago="1 day", size=9000)
    rows.backup(database, "proj-shrunk", ago="1 hour", size=1000)
    rows.backup(database, "proj-single", ago="1 hour", size=700)
    damaged = rows.backup(database, "proj-damaged", ago="1 hour")
    with database.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE control_plane.backups SET verify_status = 'failed', verified_at = now()"
                " WHERE id = :id"
            ),
            {"id": damaged},
        )
    _, samples = scrape(url)

    shrunk = {"project": "proj-shrunk", "database": "app"}
    assert value(samples, "backup_worker_last_backup_size_bytes", **shrunk) == 1000
    assert value(samples, "backup_worker_previous_backup_size_bytes", **shrunk) == 9000
    previous = [s for s in samples if s.name == "backup_worker_previous_backup_size_bytes"]
    assert [s.labels["project"] for s in previous] == ["proj-shrunk"]
    failed = "backup_worker_backups_verify_failed"
    assert value(samples, failed, project="proj-damaged") == 1
    assert value(samples, failed, project="proj-shrunk") == 0
    assert value(samples, "backup_worker_drill_period_seconds") == 7 * DAY
    info = [s for s in samples if s.name == "backup_worker_build_info"]
    assert [(s.labels, s.value) for s in info] == [
        ({"version": metadata.version("backup-worker")}, 1.0)
    ]


def test_live_workers_are_counted_per_queue_with_their_spool(
    url: str, redis_client: redis.Redis, tmp_path: Path
) -> None:
    redis_client.delete(workers.KEY)
    workers.beat(redis_client, "celery@a", ["celery"], tmp_path)
    workers.beat(redis_client, "scheduled@a", ["scheduled"], tmp_path / "missing")
    stale = '{"at": %f, "queues": ["scheduled"], "spool_free": 1, "spool_size": 2}'
    redis_client.hset(workers.KEY, "scheduled@gone", stale % (time.time() - 600))
    redis_client.hset(workers.KEY, "celery@ancient", stale % (time.time() - 2 * DAY))
    redis_client.hset(workers.KEY, "garbage", "not json")
    _, samples = scrape(url)

    assert value(samples, "backup_worker_workers", queue="celery") == 1
    assert value(samples, "backup_worker_workers", queue="scheduled") == 1
    beats = {
        s.labels["worker"]
        for s in samples
        if s.name == "backup_worker_worker_heartbeat_timestamp_seconds"
    }
    assert beats == {"celery@a", "scheduled@a", "scheduled@gone"}
    assert set(redis_client.hkeys(workers.KEY)) == {b"celery@a", b"scheduled@a", b"scheduled@gone"}
    free = value(samples, "backup_worker_spool_free_bytes", worker="celery@a")
    size = value(samples, "backup_worker_spool_size_bytes", worker="celery@a")
    assert 0 < free <= size
    spools = {s.labels["worker"] for s in samples if s.name == "backup_worker_spool_free_bytes"}
    assert spools == {"celery@a"}  # the missing spool is unreadable, the stale one is old

    workers.forget(redis_client, "celery@a")
    _, after = scrape(url)
    assert value(after, "backup_worker_workers", queue="celery") == 0


def test_the_heartbeat_thread_beats_and_leaves_on_stop(
    redis_client: redis.Redis, tmp_path: Path
) -> None:
    redis_client.delete(workers.KEY)
    beating = workers.Heartbeat(redis_client, "celery@t", ["celery"], tmp_path, interval=0.05)
    beating.start()
    deadline = time.monotonic() + 5
    while not redis_client.hexists(workers.KEY, "celery@t") and time.monotonic() < deadline:
        time.sleep(0.02)
    [seen] = workers.read(redis_client, time.time())
    assert (seen.name, seen.queues) == ("celery@t", ("celery",))
    beating.stop()
    assert not redis_client.hexists(workers.KEY, "celery@t")


def test_the_queues_counted_are_the_ones_the_procfile_consumes() -> None:
    assert set(workers.CONSUMED_QUEUES) == {"celery", tasks.SCHEDULED_QUEUE}


def test_every_name_the_dashboard_and_the_rules_query_is_in_a_real_scrape(
    url: str, database: session.Database, redis_client: redis.Redis, tmp_path: Path
) -> None:
    rows.fleet(database)
    rows.backup(database, "proj-ok", ago="20 minutes", size=20000)
    with database.engine.begin() as conn:
        conn.execute(
            text("UPDATE control_plane.backups SET drilled_at = now(), drill_status = 'ok'")
        )
    test_wal_window.record(database)
    redis_client.delete(workers.KEY)
    workers.beat(redis_client, "celery@a", ["celery"], tmp_path)
    counters.RedisCounters(redis_client).request("sendDocument", "ok")
    counters.RedisCounters(redis_client).transferred("sent", 10)
    counters.RedisCounters(redis_client).paced(0.5)
    with slots.Slots(redis_client).hold("main", 2, holder="job-1"):
        _, samples = scrape(url)

    scraped = {sample.name for sample in samples}  # samples, not HELP lines of empty families
    # The repositories' series come with TELEGRAM_REPOSITORIES_FILE only: a probed scrape.
    scraped |= test_repository_up.probed_names(database, tmp_path)
    queried = {name for expr in panel_exprs() for name in NAME.findall(expr)}
    queried |= set(NAME.findall(RULES.read_text()))
    assert queried <= scraped, sorted(queried - scraped)
