"""db.queries.jobs against a real PostgreSQL: idempotent creation, forward-only status, progress."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import func, select, update

from db import models, session
from db.queries import jobs
from worker import errors

Job = models.Job


def _get(database: session.Database, job_id: uuid.UUID) -> models.Job:
    with database.transaction() as db_session:
        job = jobs.get_job(db_session, job_id)
    assert job is not None
    return job


def _count(database: session.Database) -> int:
    with database.transaction() as db_session:
        return db_session.scalars(select(func.count()).select_from(Job)).one()


def _start(database: session.Database, job_id: uuid.UUID, max_attempts: int = 3) -> models.Job:
    with database.transaction() as db_session:
        job = jobs.start_job(db_session, job_id, hostname="host-a", max_attempts=max_attempts)
    assert job is not None
    return job


def test_create_job_twice_with_the_same_id_keeps_one_row(database: session.Database) -> None:
    job_id = uuid.uuid4()
    with database.transaction() as db_session:
        first = jobs.create_job(
            db_session,
            job_id=job_id,
            type="backup",
            project_id="proj-1",
            payload={"database": "app"},
            celery_task_id="task-1",
        )
    with database.transaction() as db_session:
        again = jobs.create_job(
            db_session,
            job_id=job_id,
            type="backup",
            project_id="proj-1",
            payload={"database": "other"},
            celery_task_id=None,
        )
    assert (first.id, first.status, first.progress, first.attempts) == (job_id, "pending", 0, 0)
    assert again.id == job_id
    assert again.payload == {"database": "app"}
    assert again.celery_task_id == "task-1"
    assert _count(database) == 1


def test_create_job_twice_with_the_same_celery_task_id_keeps_one_row(
    database: session.Database,
) -> None:
    with database.transaction() as db_session:
        first = jobs.create_job(
            db_session,
            job_id=uuid.uuid4(),
            type="restore",
            project_id="proj-1",
            payload={},
            celery_task_id="task-1",
        )
    with database.transaction() as db_session:
        again = jobs.create_job(
            db_session,
            job_id=uuid.uuid4(),
            type="restore",
            project_id="proj-1",
            payload={},
            celery_task_id="task-1",
        )
    assert again.id == first.id
    assert _count(database) == 1


def test_create_job_rejects_an_unknown_type(database: session.Database) -> None:
    with pytest.raises(errors.InputError, match="unknown job type"), database.transaction() as s:
        jobs.create_job(
            s, job_id=uuid.uuid4(), type="nap", project_id="p", payload={}, celery_task_id=None
        )


def test_claim_job_reserves_a_pending_job_for_one_host(
    database: session.Database, make_job: Callable[..., uuid.UUID]
) -> None:
    job_id, running = make_job(), make_job()
    _start(database, running)
    with database.transaction() as db_session:
        assert jobs.claim_job(db_session, job_id, hostname="host-a", payload={"chat_id": "-1"})
        assert not jobs.claim_job(db_session, job_id, hostname="host-b", payload={"x": 1})
        assert not jobs.claim_job(db_session, running, hostname="host-b", payload={})
        assert not jobs.claim_job(db_session, uuid.uuid4(), hostname="host-b", payload={})
    claimed = _get(database, job_id)
    assert (claimed.status, claimed.worker_hostname) == ("pending", "host-a")
    assert claimed.payload == {"database": "app", "chat_id": "-1"}


def test_start_job_counts_attempts_and_keeps_the_first_start(
    database: session.Database, make_job: Callable[..., uuid.UUID]
) -> None:
    job_id = make_job()
    first = _start(database, job_id)
    assert (first.status, first.attempts, first.worker_hostname) == ("running", 1, "host-a")
    assert first.started_at is not None
    assert first.heartbeat_at is not None

    # A redelivered message after a crash claims the running job again, on another host.
    with database.transaction() as db_session:
        again = jobs.start_job(db_session, job_id, hostname="host-b", max_attempts=3)
    assert again is not None
    assert (again.status, again.attempts, again.worker_hostname) == ("running", 2, "host-b")
    assert again.started_at == first.started_at
    assert again.heartbeat_at is not None
    assert again.heartbeat_at > first.heartbeat_at


def test_start_job_gives_up_after_max_attempts(
    database: session.Database, make_job: Callable[..., uuid.UUID]
) -> None:
    job_id = make_job()
    _start(database, job_id, max_attempts=2)
    _start(database, job_id, max_attempts=2)
    gave_up = _start(database, job_id, max_attempts=2)
    assert gave_up.status == "failed"
    assert gave_up.attempts == 2
    assert gave_up.worker_hostname == "host-a"
    assert gave_up.finished_at is not None
    assert gave_up.error is not None
    assert gave_up.error.startswith("gave up after 2 attempts")
    # Finished: another delivery finds it unchanged.
    assert _start(database, job_id, max_attempts=5).updated_at == gave_up.updated_at


def test_start_job_leaves_missing_and_finished_jobs_alone(
    database: session.Database, make_job: Callable[..., uuid.UUID]
) -> None:
    with database.transaction() as db_session:
        assert jobs.start_job(db_session, uuid.uuid4(), hostname="h", max_attempts=3) is None
    job_id = make_job()
    with database.transaction() as db_session:
        assert jobs.cancel_job(db_session, job_id, "operator asked")
    cancelled = _start(database, job_id)
    assert (cancelled.status, cancelled.attempts, cancelled.started_at) == ("cancelled", 0, None)
    assert cancelled.error == "operator asked"


def test_progress_never_goes_backwards_and_freezes_when_finished(
    database: session.Database, make_job: Callable[..., uuid.UUID]
) -> None:
    job_id = make_job()
    with database.transaction() as db_session:
        assert not jobs.set_progress(db_session, job_id, stage="dump", progress=10)  # pending
    _start(database, job_id)
    with database.transaction() as db_session:
        assert jobs.set_progress(db_session, job_id, stage="dump", progress=40)
        assert jobs.set_progress(db_session, job_id, stage="upload", progress=20)
    job = _get(database, job_id)
    assert (job.stage, job.progress) == ("upload", 40)
    assert job.heartbeat_at is not None
    assert job.updated_at == job.heartbeat_at > job.created_at

    with database.transaction() as db_session:
        assert jobs.fail_job(db_session, job_id, "pg_dump exited with status 1")
        assert not jobs.set_progress(db_session, job_id, stage="record", progress=90)
        jobs.heartbeat(db_session, job_id)
    frozen = _get(database, job_id)
    assert (frozen.stage, frozen.progress, frozen.status) == ("upload", 40, "failed")
    assert frozen.heartbeat_at == job.heartbeat_at


def test_progress_outside_0_to_100_is_refused(
    database: session.Database, make_job: Callable[..., uuid.UUID]
) -> None:
    job_id = make_job()
    with pytest.raises(errors.InputError), database.transaction() as db_session:
        jobs.set_progress(db_session, job_id, stage="dump", progress=101)


def test_complete_and_fail_happen_only_once(
    database: session.Database, make_job: Callable[..., uuid.UUID]
) -> None:
    done, broken = make_job(), make_job()
    _start(database, done)
    with database.transaction() as db_session:
        assert jobs.complete_job(db_session, done, {"backup_id": "b-1"})
        assert not jobs.complete_job(db_session, done, {"backup_id": "b-2"})
        assert not jobs.fail_job(db_session, done, "late failure")
        assert not jobs.cancel_job(db_session, done)
        assert jobs.fail_job(db_session, broken, "x" * 10_000)  # pending may fail directly
        assert not jobs.complete_job(db_session, broken, {})
    completed = _get(database, done)
    assert (completed.status, completed.progress, completed.error) == ("completed", 100, None)
    assert completed.result == {"backup_id": "b-1"}
    assert completed.finished_at is not None
    failed = _get(database, broken)
    assert failed.status == "failed"
    assert failed.error is not None
    assert len(failed.error) == jobs.ERROR_MAX_CHARS
    assert failed.result is None


def test_merge_result_accumulates_and_complete_keeps_it(
    database: session.Database, make_job: Callable[..., uuid.UUID]
) -> None:
    job_id = make_job()
    _start(database, job_id)
    part = {"file_id": "f", "message_id": 1}
    with database.transaction() as db_session:
        jobs.merge_result(db_session, job_id, {"manifest": {"parts": 2}})
        jobs.merge_result(db_session, job_id, {"0": part}, under="parts")
        jobs.merge_result(db_session, job_id, {"1": part}, under="parts")
        jobs.merge_result(db_session, job_id, {"spool": "spool-dir"})
    assert _get(database, job_id).result == {
        "manifest": {"parts": 2},
        "parts": {"0": part, "1": part},
        "spool": "spool-dir",
    }
    with database.transaction() as db_session:
        assert jobs.complete_job(db_session, job_id, {"backup_id": "b", "spool": None})
    result = _get(database, job_id).result
    assert result is not None
    assert result["backup_id"] == "b"
    assert result["spool"] is None
    assert result["parts"] == {"0": part, "1": part}
    with pytest.raises(errors.JobStateError), database.transaction() as db_session:
        jobs.merge_result(db_session, job_id, {"late": True})


def test_stale_jobs_are_running_jobs_with_an_old_heartbeat(
    database: session.Database, make_job: Callable[..., uuid.UUID]
) -> None:
    stale, alive, finished, pending = make_job(), make_job(), make_job(), make_job()
    for job_id in (stale, alive, finished):
        _start(database, job_id)
    with database.transaction() as db_session:
        jobs.complete_job(db_session, finished, {})
        db_session.execute(
            update(Job)
            .where(Job.id.in_([stale, finished, pending]))
            .values(heartbeat_at=func.now() - dt.timedelta(minutes=20))
        )
    with database.transaction() as db_session:
        found = jobs.stale_jobs(db_session, older_than=dt.timedelta(minutes=10))
    assert [job.id for job in found] == [stale]

    with database.transaction() as db_session:
        jobs.heartbeat(db_session, stale)
    with database.transaction() as db_session:
        assert jobs.stale_jobs(db_session, older_than=dt.timedelta(minutes=10)) == []


def test_list_jobs_newest_first_with_filters_and_pages(
    database: session.Database, make_job: Callable[..., uuid.UUID]
) -> None:
    base = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    ids = [
        make_job(project_id="proj-a" if i % 2 == 0 else "proj-b", created_at=base + dt.timedelta(i))
        for i in range(5)
    ]
    newest_first = ids[::-1]
    _start(database, ids[1])
    with database.transaction() as db_session:
        assert [j.id for j in jobs.list_jobs(db_session)] == newest_first
        assert [j.id for j in jobs.list_jobs(db_session, limit=2, offset=2)] == newest_first[2:4]
        assert [j.id for j in jobs.list_jobs(db_session, project_id="proj-a")] == [
            ids[4],
            ids[2],
            ids[0],
        ]
        assert [j.id for j in jobs.list_jobs(db_session, status="running")] == [ids[1]]
        assert jobs.list_jobs(db_session, project_id="proj-a", status="running") == []
        with pytest.raises(errors.InputError):
            jobs.list_jobs(db_session, limit=0)


def test_to_json_is_plain_json(
    database: session.Database, make_job: Callable[..., uuid.UUID]
) -> None:
    import json

    job_id = make_job()
    data = _start(database, job_id).to_json()
    assert json.loads(json.dumps(data)) == data
    assert data["id"] == str(job_id)
    assert data["status"] == "running"
    assert dt.datetime.fromisoformat(data["started_at"]).tzinfo is not None
