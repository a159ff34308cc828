"""Schedules on real PostgreSQL and Redis: writes, dispatch, concurrency, catch-up."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from celery import Celery
from sqlalchemy import func, select, text, update

from db import models, schedule_models, session
from db.queries import schedule_runs as db_schedule_runs
from db.queries import schedules as db_schedules
from tasks import maintenance
from tests.support.fake_send import FakeSend
from worker import errors, settings
from worker.contract import publish
from worker.jobs import runtime
from worker.scheduling import dispatch as dispatcher
from worker.scheduling import spec as schedule_spec

CHAT = "-1001234567890"


def make_runtime(url: str, **overrides: object) -> runtime.Runtime:
    values: dict[str, object] = {
        "database_url": url,
        "telegram_bot_token": "123:test-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "telegram_chat_id": CHAT,
        **overrides,
    }
    config = settings.Settings(_env_file=None, **values)  # type: ignore[arg-type]
    return runtime.build(config)


@pytest.fixture
def rt(database: session.Database) -> Iterator[runtime.Runtime]:
    built = make_runtime(database.url)
    yield built
    built.close()


@pytest.fixture
def queue(redis_db: int) -> Iterator[tuple[Celery, str, redis.Redis]]:
    """A Celery client on our Redis db, and a queue of our own to count messages in."""
    name = f"bw-test-{uuid.uuid4().hex[:8]}"
    client = Celery("dispatch-test", broker=f"redis://127.0.0.1:6379/{redis_db}")
    client.conf.broker_connection_retry_on_startup = True
    store = redis.Redis(host="127.0.0.1", port=6379, db=redis_db)
    yield client, name, store
    store.delete(name)
    store.close()
    client.close()


def queued_job_ids(store: redis.Redis, name: str) -> list[str]:
    ids = []
    for raw in store.lrange(name, 0, -1):
        envelope = json.loads(raw)
        args, kwargs, _ = json.loads(base64.b64decode(envelope["body"]))
        assert args == []
        ids.append(kwargs["job_id"])
    return ids


def add_many(db: session.Database, total: int, due: int) -> None:
    """`total` hourly schedules in one statement, the first `due` of them due."""
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO control_plane.backup_schedules"
                " (project_id, database, interval_seconds, period_seconds, next_run_at)"
                " SELECT 'proj-' || i, 'app', 3600, 3600,"
                "  CASE WHEN i <= :due THEN now() - interval '10 minutes'"
                "       ELSE now() + interval '30 minutes' END"
                " FROM generate_series(1, :total) AS i"
            ),
            {"due": due, "total": total},
        )


def count(db: session.Database, model: type[models.Base]) -> int:
    with db.transaction() as s:
        return s.scalars(select(func.count()).select_from(model)).one()


def add(rt: runtime.Runtime, **kwargs: object) -> schedule_models.BackupSchedule:
    spec = schedule_spec.ScheduleSpec.build(**{"project_id": "proj-1", "database": "app", **kwargs})  # type: ignore[arg-type]
    with rt.database.transaction() as s:
        return schedule_spec.create(s, spec)


def test_write_list_disable_enable_remove(rt: runtime.Runtime) -> None:
    row = add(rt, cron="0 3 * * *", timezone="Europe/Berlin", keep_daily=7)
    assert row.next_run_at > dt.datetime.now(dt.UTC)
    assert row.period_seconds == 25 * 3600
    with pytest.raises(errors.InputError, match="already has a schedule"):
        add(rt, every="1h")
    with rt.database.transaction() as s:
        assert [r.id for r in db_schedules.list_schedules(s, project_id="proj-1")] == [row.id]
        off = schedule_spec.set_enabled(s, row.id, False)
        assert off.enabled is False
        assert db_schedules.list_schedules(s, enabled=True) == []
        on = schedule_spec.set_enabled(s, row.id, True)
        assert on.enabled
        assert on.enabled_at >= row.enabled_at
        assert db_schedules.delete_schedule(s, row.id)
        assert not db_schedules.delete_schedule(s, row.id)
        with pytest.raises(errors.NotFoundError):
            schedule_spec.set_enabled(s, row.id, True)


def test_update_replaces_the_settings_and_recomputes_the_next_run(rt: runtime.Runtime) -> None:
    row = add(rt, every="1h")
    spec = schedule_spec.ScheduleSpec.build(
        project_id="proj-1", database="app", cron="30 4 * * *", keep_last=2
    )
    with rt.database.transaction() as s:
        changed = schedule_spec.update(s, row.id, spec)
        with pytest.raises(errors.NotFoundError):
            schedule_spec.update(s, uuid.uuid4(), spec)
    assert (changed.cron, changed.interval_seconds, changed.keep_last) == ("30 4 * * *", None, 2)
    assert (changed.next_run_at.hour, changed.next_run_at.minute) == (4, 30)
    assert changed.period_seconds == 86400


def test_the_table_refuses_a_schedule_with_both_cron_and_interval(rt: runtime.Runtime) -> None:
    with pytest.raises(Exception, match="ck_backup_schedules_when"), rt.database.transaction() as s:
        s.execute(
            text(
                "INSERT INTO control_plane.backup_schedules (project_id, database, cron,"
                " interval_seconds, period_seconds, next_run_at)"
                " VALUES ('p', 'd', '0 3 * * *', 60, 60, now())"
            )
        )


def test_three_periods_late_gives_one_job_and_jumps_to_the_future(
    rt: runtime.Runtime, queue: tuple[Celery, str, redis.Redis]
) -> None:
    client, name, store = queue
    row = add(rt, every="1h", retention_days=9)
    with rt.database.transaction() as s:
        late = db_schedules.db_now(s) - dt.timedelta(hours=3, minutes=5)
        s.execute(
            update(schedule_models.BackupSchedule)
            .where(schedule_models.BackupSchedule.id == row.id)
            .values(next_run_at=late)
        )
    send = maintenance.publisher(client, name)
    first = dispatcher.dispatch(rt, send)
    second = dispatcher.dispatch(rt, send)
    assert (first.claimed, first.enqueued, second.claimed) == (1, 1, 0)
    job_id = dispatcher.run_job_id(row.id, late)
    assert queued_job_ids(store, name) == [str(job_id)]
    with rt.database.transaction() as s:
        job = s.get_one(models.Job, job_id)
        assert (job.status, job.project_id, job.worker_hostname) == ("pending", "proj-1", None)
        assert job.payload["expires_in_days"] == 9
        assert job.payload["chat_id"] == CHAT
        after = db_schedules.get_schedule(s, row.id)
        assert after is not None
        assert after.next_run_at == late + dt.timedelta(hours=4)
        assert after.last_job_id == job_id
        assert [r.scheduled_for for r in db_schedule_runs.runs_of(s, row.id)] == [late]


def test_a_slot_dispatched_again_enqueues_nothing(
    rt: runtime.Runtime, queue: tuple[Celery, str, redis.Redis]
) -> None:
    client, name, store = queue
    row = add(rt, every="1h")
    with rt.database.transaction() as s:
        slot = db_schedules.db_now(s) - dt.timedelta(minutes=1)
    for _ in range(2):
        # A redelivered dispatch, or a second beat, sees the same slot due once more.
        with rt.database.transaction() as s:
            s.execute(
                update(schedule_models.BackupSchedule)
                .where(schedule_models.BackupSchedule.id == row.id)
                .values(next_run_at=slot)
            )
        dispatcher.dispatch(rt, maintenance.publisher(client, name))
    assert queued_job_ids(store, name) == [str(dispatcher.run_job_id(row.id, slot))]
    assert count(rt.database, models.Job) == 1
    assert count(rt.database, schedule_models.ScheduleRun) == 1


def test_a_failed_send_rolls_the_claim_back(rt: runtime.Runtime) -> None:
    row = add(rt, every="1h")
    with rt.database.transaction() as s:
        s.execute(
            update(schedule_models.BackupSchedule)
            .where(schedule_models.BackupSchedule.id == row.id)
            .values(next_run_at=func.now() - dt.timedelta(minutes=1))
        )

    with pytest.raises(ConnectionError):
        dispatcher.dispatch(rt, FakeSend(fail=ConnectionError("broker down")).publisher())
    assert count(rt.database, models.Job) == 0
    sent = FakeSend()
    assert dispatcher.dispatch(rt, sent.publisher()).enqueued == 1
    assert len(sent.calls) == 1


def test_disabled_schedules_are_not_dispatched(rt: runtime.Runtime) -> None:
    row = add(rt, every="1h", enabled=False)
    with rt.database.transaction() as s:
        s.execute(
            update(schedule_models.BackupSchedule)
            .where(schedule_models.BackupSchedule.id == row.id)
            .values(next_run_at=func.now() - dt.timedelta(hours=1))
        )
    assert dispatcher.dispatch(rt, FakeSend().publisher()).claimed == 0


@pytest.mark.timeout(120)
def test_two_dispatchers_at_once_enqueue_each_due_schedule_exactly_once(
    database: session.Database, queue: tuple[Celery, str, redis.Redis]
) -> None:
    client, name, store = queue
    add_many(database, total=10_000, due=1_000)
    runtimes = [make_runtime(database.url) for _ in range(2)]
    start = threading.Barrier(2)
    results: list[dispatcher.DispatchResult] = []
    failures: list[BaseException] = []

    def run(rt: runtime.Runtime, send: publish.Publisher) -> None:
        try:
            start.wait()
            results.append(dispatcher.dispatch(rt, send, batch=250))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(exc)

    threads = [
        threading.Thread(target=run, args=(rt, maintenance.publisher(client, name)))
        for rt in runtimes
    ]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    for rt in runtimes:
        rt.close()
    assert not failures, failures
    print(f"two dispatchers, 1000 due of 10000: {elapsed:.2f} s")

    assert sum(r.enqueued for r in results) == 1_000
    queued = queued_job_ids(store, name)
    assert len(queued) == len(set(queued)) == 1_000
    with database.transaction() as s:
        job_ids = {str(i) for i in s.scalars(select(models.Job.id))}
        assert job_ids == set(queued)
        assert count(database, schedule_models.ScheduleRun) == 1_000
        still_due = s.scalars(
            select(func.count())
            .select_from(schedule_models.BackupSchedule)
            .where(schedule_models.BackupSchedule.next_run_at <= func.now())
        ).one()
        assert still_due == 0
        touched = s.scalars(
            select(func.count())
            .select_from(schedule_models.BackupSchedule)
            .where(schedule_models.BackupSchedule.last_run_at.is_not(None))
        ).one()
        assert touched == 1_000
