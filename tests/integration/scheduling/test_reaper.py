"""The reaper on real PostgreSQL: stale jobs requeued or failed, finished spool dirs removed."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from db import models, session
from db.queries import jobs as db_jobs
from tests.integration.scheduling.test_schedules import make_runtime
from tests.support.fake_send import FakeSend
from worker.jobs import runtime
from worker.scheduling import reaper

HOUR = dt.timedelta(hours=1)


@pytest.fixture
def rt(database: session.Database, tmp_path: Path) -> Iterator[runtime.Runtime]:
    built = make_runtime(database.url, backup_spool_dir=tmp_path / "spool", backup_max_attempts=2)
    yield built
    built.close()


@pytest.fixture
def job(rt: runtime.Runtime) -> Callable[..., uuid.UUID]:
    """Insert a backup job in a given state; timestamps pushed into the past by `silent`."""

    def make(
        *,
        status: str = "running",
        attempts: int = 1,
        silent: dt.timedelta = HOUR,
        hostname: str | None = "dead@host-a",
        type: str = "backup",
        payload: dict[str, object] | None = None,
    ) -> uuid.UUID:
        job_id = uuid.uuid4()
        with rt.database.transaction() as s:
            db_jobs.create_job(
                s,
                job_id=job_id,
                type=type,
                project_id="proj-1",
                payload=payload
                if payload is not None
                else {
                    "project_id": "proj-1",
                    "database": "app",
                    "expires_in_days": 5,
                    "caption": None,
                    "filename": None,
                    "chat_id": "-1001",
                    "thread_id": None,
                },
                celery_task_id=None,
            )
            past = dt.datetime.now(dt.UTC) - silent
            s.execute(
                update(models.Job)
                .where(models.Job.id == job_id)
                .values(
                    status=status,
                    attempts=attempts,
                    worker_hostname=hostname,
                    stage="dump" if status == "running" else None,
                    progress=30 if status == "running" else 0,
                    heartbeat_at=past if status == "running" else None,
                    updated_at=past,
                )
            )
        return job_id

    return make


def row(rt: runtime.Runtime, job_id: uuid.UUID) -> models.Job:
    with rt.database.transaction() as s:
        found = db_jobs.get_job(s, job_id)
        assert found is not None
        return found


def test_a_silent_running_job_with_attempts_left_is_sent_again(
    rt: runtime.Runtime, job: Callable[..., uuid.UUID]
) -> None:
    stale = job(attempts=1)
    fresh = job(attempts=1, silent=dt.timedelta(seconds=5), hostname="live@host-b")
    sent = FakeSend()
    result = reaper.reap(rt, sent.publisher())
    assert result.requeued == [str(stale)]
    assert [call.name for call in sent.calls] == ["backups.create"]
    assert sent.kwargs == [
        {"project_id": "proj-1", "database": "app", "job_id": str(stale), "expires_in_days": 5}
    ]
    again = row(rt, stale)
    assert (again.status, again.worker_hostname, again.progress, again.stage) == (
        "pending",
        None,
        0,
        None,
    )
    assert row(rt, fresh).status == "running"
    # The re-sent backups.create can claim it, exactly as a first delivery would.
    with rt.database.transaction() as s:
        assert db_jobs.claim_job(s, stale, hostname="alive@host-b", payload={})
        started = db_jobs.start_job(s, stale, hostname="alive@host-b", max_attempts=2)
        assert started is not None
        assert started.status == "running"
        assert started.attempts == 2


def test_a_silent_job_without_attempts_left_ends_failed(
    rt: runtime.Runtime, job: Callable[..., uuid.UUID]
) -> None:
    spent = job(attempts=2)
    sent = FakeSend()
    result = reaper.reap(rt, sent.publisher())
    assert (result.failed, sent.calls) == ([str(spent)], [])
    failed = row(rt, spent)
    assert failed.status == "failed"
    assert failed.error is not None
    assert "dead@host-a stopped sending heartbeats during dump" in failed.error
    assert "all 2 attempts" in failed.error


def test_a_job_claimed_but_never_started_is_sent_again(
    rt: runtime.Runtime, job: Callable[..., uuid.UUID]
) -> None:
    claimed = job(status="pending", attempts=0)
    unclaimed = job(status="pending", attempts=0, hostname=None)
    sent = FakeSend()
    result = reaper.reap(rt, sent.publisher())
    assert result.requeued == [str(claimed)]
    # Unclaimed for that long, its message may be lost (a broker restart): sent once more.
    assert result.resent == [str(unclaimed)]
    assert sorted(str(m["job_id"]) for m in sent.kwargs) == sorted([str(claimed), str(unclaimed)])
    assert row(rt, claimed).worker_hostname is None
    assert row(rt, unclaimed).status == "pending"
    assert reaper.reap(rt, sent.publisher()).resent == []  # not again before another stale period


def test_a_silent_job_of_a_host_that_heartbeats_for_another_is_left_alone(
    rt: runtime.Runtime, job: Callable[..., uuid.UUID]
) -> None:
    # Between two steps: its next step waits in the live host's queue behind other jobs.
    waiting = job(attempts=1, hostname="busy@host-d")
    job(attempts=1, silent=dt.timedelta(seconds=5), hostname="busy@host-d")
    assert reaper.reap(rt, FakeSend().publisher()).requeued == []
    assert row(rt, waiting).status == "running"


def test_a_claim_of_a_host_that_still_heartbeats_is_left_alone(
    rt: runtime.Runtime, job: Callable[..., uuid.UUID]
) -> None:
    # The host is busy with another backup; the claimed job waits in its queue.
    job(hostname="busy@host-c", silent=dt.timedelta(seconds=5))
    waiting = job(status="pending", attempts=0, hostname="busy@host-c")
    assert reaper.reap(rt, FakeSend().publisher()).requeued == []
    assert row(rt, waiting).worker_hostname == "busy@host-c"


def test_jobs_that_cannot_be_rerun_end_failed(
    rt: runtime.Runtime, job: Callable[..., uuid.UUID]
) -> None:
    backup_id = str(uuid.uuid4())
    restore = job(type="restore", attempts=0, payload={"backup_id": backup_id})
    refused = job(attempts=0, payload={"refused": True})
    result = reaper.reap(rt, FakeSend().publisher())
    assert sorted(result.failed) == sorted([str(restore), str(refused)])
    # A restore whose host is gone says which host, which step and what to run.
    assert str(row(rt, restore).error) == (
        "the worker on dead@host-a stopped sending heartbeats during download; what it had "
        f"done lies on that host: run backup-worker restore {backup_id} again with the same "
        "target"
    )
    assert "cannot be re-run automatically" in str(row(rt, refused).error)


def test_a_failed_send_leaves_the_job_for_the_next_run(
    rt: runtime.Runtime, job: Callable[..., uuid.UUID]
) -> None:
    stale = job(attempts=1)

    with pytest.raises(ConnectionError):
        reaper.reap(rt, FakeSend(fail=ConnectionError("broker down")).publisher())
    assert row(rt, stale).status == "running"
    assert reaper.reap(rt, FakeSend().publisher()).requeued == [str(stale)]


def test_spool_dirs_of_finished_and_unknown_jobs_are_removed(
    rt: runtime.Runtime, job: Callable[..., uuid.UUID]
) -> None:
    root = rt.settings.backup_spool_dir
    running = job(silent=dt.timedelta(seconds=1))
    done = job(silent=dt.timedelta(seconds=1))
    with rt.database.transaction() as s:
        db_jobs.fail_job(s, done, "boom")
    unknown = uuid.uuid4()
    for name in (running, done, unknown):
        (root / str(name)).mkdir(parents=True)
        (root / str(name) / "part.000").write_bytes(b"x")
    (root / "not-a-job").mkdir()
    result = reaper.reap(rt, FakeSend().publisher())
    assert sorted(result.spool_removed) == sorted([str(done), str(unknown)])
    assert sorted(p.name for p in root.iterdir()) == sorted([str(running), "not-a-job"])
