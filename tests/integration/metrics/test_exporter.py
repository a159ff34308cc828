"""The exporter over HTTP, on real PostgreSQL and Redis: what a Prometheus scrape reads."""

from __future__ import annotations

import re
import socket
import threading
import urllib.request
from collections.abc import Iterator

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from db import session
from tests.integration.metrics import rows
from worker.metrics import collector, counters, exporter, queues
from worker.postgres import slots

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def url(database: session.Database, redis_client: redis.Redis) -> Iterator[str]:
    port, stop, ready = free_port(), threading.Event(), threading.Event()
    thread = threading.Thread(
        target=exporter.serve,
        args=(database, redis_client),
        kwargs={"address": "127.0.0.1", "port": port, "stop": stop, "on_ready": ready.set},
    )
    thread.start()
    assert ready.wait(10)
    yield f"http://127.0.0.1:{port}/metrics"
    stop.set()
    thread.join(10)


def scrape(url: str) -> tuple[str, list[Sample]]:
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - a local URL
        body = answer.read().decode()
    return body, [s for family in text_string_to_metric_families(body) for s in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    assert len(found) == 1, (name, labels, found)
    return found[0]


def test_a_scrape_reads_the_database_and_redis_of_the_whole_fleet(
    url: str, database: session.Database, redis_client: redis.Redis
) -> None:
    rows.fleet(database)
    redis_client.lpush("celery", "m1", "m2")
    redis_client.lpush(f"celery{queues.PRIORITY_SEP}3", "m3")
    redis_client.lpush("worker-a@host1.dq2", "m4")
    redis_client.sadd("_kombu.binding.celery", "not a queue")
    one, other = counters.RedisCounters(redis_client), counters.RedisCounters(redis_client)
    one.request("sendDocument", "ok")
    other.request("sendDocument", "ok")
    other.request("sendDocument", "retry_after")
    one.transferred("sent", 2048)
    other.paced(1.5)
    held = slots.Slots(redis_client)
    with held.hold("main", 2, holder="job-1"):
        _, samples = scrape(url)
    _, after = scrape(url)

    ok = {"project": "proj-ok", "database": "app"}
    assert value(samples, "backup_worker_last_backup_size_bytes", **ok) == 12345
    assert value(samples, "backup_worker_last_backup_duration_seconds", **ok) == pytest.approx(42)
    assert value(samples, "backup_worker_schedule_period_seconds", **ok) == 3600
    assert value(samples, "backup_worker_schedule_lag_seconds", **ok) == 0
    late = {"project": "proj-late", "database": "app"}
    assert value(samples, "backup_worker_schedule_lag_seconds", **late) == pytest.approx(
        7200, abs=10
    )
    assert value(samples, "backup_worker_last_job_failed", project="proj-failing") == 1
    assert value(samples, "backup_worker_last_job_failed", project="proj-ok") == 0
    stamps = [s for s in samples if s.name == "backup_worker_last_success_timestamp_seconds"]
    assert sorted(s.labels["project"] for s in stamps) == [
        "proj-adhoc",
        "proj-failing",
        "proj-late",
        "proj-ok",
    ]
    assert value(samples, "backup_worker_jobs", type="backup", status="failed") == 1
    assert value(samples, "backup_worker_queue_messages", queue="celery") == 3
    assert value(samples, "backup_worker_queue_messages", queue="worker-a@host1.dq2") == 1
    assert {s.labels["queue"] for s in samples if s.name == "backup_worker_queue_messages"} == {
        "celery",
        "worker-a@host1.dq2",
    }
    requests = "backup_worker_telegram_requests_total"
    assert value(samples, requests, method="sendDocument", outcome="ok") == 2
    assert value(samples, requests, method="sendDocument", outcome="retry_after") == 1
    assert value(samples, "backup_worker_telegram_bytes_total", direction="sent") == 2048
    assert value(samples, "backup_worker_pacer_wait_seconds_sum") == 1.5
    assert value(samples, "backup_worker_pacer_wait_seconds_count") == 1
    assert value(samples, "backup_worker_dump_slots_in_use", server="main") == 1
    assert value(after, "backup_worker_dump_slots_in_use", server="main") == 0
    assert value(samples, "backup_worker_source_up", source="database") == 1
    assert value(samples, "backup_worker_source_up", source="redis") == 1


def test_every_name_is_declared_and_no_label_is_an_id_or_a_secret(
    url: str, database: session.Database, redis_client: redis.Redis
) -> None:
    rows.fleet(database)
    counters.RedisCounters(redis_client).request("getMe", "ok")
    body, samples = scrape(url)
    assert {s.name for s in samples} <= collector.EXPOSED
    assert all(s.name.startswith(collector.PREFIX) for s in samples)
    labels = {value for s in samples for value in s.labels.values()}
    assert not [label for label in labels if UUID.search(label)]
    assert "-1001" not in body  # the chat id of every backup row
    assert "file" not in labels  # file ids


def test_an_unreadable_database_is_reported_and_redis_still_counts(
    redis_client: redis.Redis,
) -> None:
    gone = session.Database("postgresql+psycopg2://postgres@127.0.0.1:1/postgres")
    port, stop, ready = free_port(), threading.Event(), threading.Event()
    thread = threading.Thread(
        target=exporter.serve,
        args=(gone, redis_client),
        kwargs={"address": "127.0.0.1", "port": port, "stop": stop, "on_ready": ready.set},
    )
    thread.start()
    try:
        assert ready.wait(10)
        redis_client.lpush("celery", "m1")
        _, samples = scrape(f"http://127.0.0.1:{port}/metrics")
    finally:
        stop.set()
        thread.join(10)
    assert value(samples, "backup_worker_source_up", source="database") == 0
    assert value(samples, "backup_worker_source_up", source="redis") == 1
    assert value(samples, "backup_worker_queue_messages", queue="celery") == 1
