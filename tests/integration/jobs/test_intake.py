"""Enqueueing against real PostgreSQL and a broker that is down: no pending row is left behind
for the reaper to send later (a retry by hand would make two backups)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import redis
from celery import Celery
from sqlalchemy import select

from db import models, session
from worker import settings
from worker.backup import batch
from worker.contract import publish, request
from worker.jobs import intake, runtime


@pytest.fixture
def rt(database: session.Database) -> Iterator[runtime.Runtime]:
    config = settings.Settings(
        _env_file=None,
        database_url=database.url,
        telegram_bot_token="123:test-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        telegram_chat_id="-1001234567890",
    )
    built = runtime.build(config)
    yield built
    built.close()


def client(broker: str) -> Celery:
    app = Celery("intake-test", broker=broker)
    app.conf.task_publish_retry_policy = {"max_retries": 1, "interval_start": 0}
    app.conf.broker_connection_timeout = 2
    return app


@pytest.fixture
def down() -> Iterator[Celery]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = client(f"redis://127.0.0.1:{port}/0")
    yield app
    app.close()


def jobs(database: session.Database) -> list[models.Job]:
    with database.transaction() as db_session:
        return list(db_session.scalars(select(models.Job)))


def test_a_failed_publish_fails_the_row_it_inserted(
    rt: runtime.Runtime, database: session.Database, down: Celery
) -> None:
    req = request.validate("p-down", "sales", None, None, None, "default")
    with pytest.raises(Exception, match="Connection refused"):
        intake.enqueue(rt, req, publish.Publisher(down.send_task))
    [job] = jobs(database)
    assert job.status == models.JobStatus.FAILED
    assert job.error is not None
    assert job.error.startswith("not queued: sending backups.create failed (OperationalError")
    assert job.finished_at is not None


def test_a_batch_reports_which_were_queued_when_the_broker_is_down(
    rt: runtime.Runtime, database: session.Database, down: Celery
) -> None:
    items = [{"project_id": f"p-{n}", "database": "sales"} for n in range(3)]
    report = batch.enqueue_batch(rt, items, publish.Publisher(down.send_task))
    assert [(item["index"], item["status"]) for item in report] == [
        (0, "refused"),
        (1, "refused"),
        (2, "refused"),
    ]
    assert str(report[0]["error"]).startswith("not queued: the broker could not be reached (")
    assert str(report[2]["error"]).startswith("not tried: ")
    assert [job.status for job in jobs(database)] == [models.JobStatus.FAILED]


def test_a_publish_that_succeeds_leaves_the_row_pending(
    rt: runtime.Runtime, database: session.Database, redis_db: int
) -> None:
    app = client(f"redis://127.0.0.1:6379/{redis_db}")
    try:
        req = request.validate("p-up", "sales", None, None, None, "default")
        job_id = intake.enqueue(rt, req, publish.Publisher(app.send_task, queue="bw-intake-test"))
    finally:
        app.close()
        redis.Redis(host="127.0.0.1", port=6379, db=redis_db).delete("bw-intake-test")
    [job] = jobs(database)
    assert (job.id, job.status) == (job_id, models.JobStatus.PENDING)
