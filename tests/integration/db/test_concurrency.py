"""Two sessions racing on the same row: the row lock serializes them, nothing is lost."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import func, select

from db import models, session
from db.queries import backups, jobs

T = TypeVar("T")
HOLD = 0.2  # seconds the first transaction keeps its row lock, so the other must wait for it


def _race(work: Callable[[int], T]) -> list[T]:
    """Run work(0) and work(1) at once in two threads; return both results in call order."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(work, n) for n in range(2)]
        return [future.result(timeout=10) for future in futures]


def test_concurrent_start_job_with_one_attempt_left_claims_once(
    database: session.Database, make_job: Callable[..., uuid.UUID]
) -> None:
    job_id = make_job()
    barrier = threading.Barrier(2)

    def claim(n: int) -> tuple[str, int]:
        with database.transaction() as db_session:
            barrier.wait(timeout=5)
            job = jobs.start_job(db_session, job_id, hostname=f"host-{n}", max_attempts=1)
            assert job is not None
            time.sleep(HOLD)
            return (job.status, job.attempts)

    started = time.monotonic()
    outcomes = _race(claim)
    assert time.monotonic() - started >= 2 * HOLD  # the second claim waited for the first
    assert sorted(outcomes) == [("failed", 1), ("running", 1)]
    with database.transaction() as db_session:
        job = jobs.get_job(db_session, job_id)
    assert job is not None
    assert (job.status, job.attempts) == ("failed", 1)


def test_concurrent_start_job_counts_both_deliveries(
    database: session.Database, make_job: Callable[..., uuid.UUID]
) -> None:
    job_id = make_job()
    barrier = threading.Barrier(2)

    def claim(n: int) -> tuple[str, int, dt.datetime | None]:
        with database.transaction() as db_session:
            barrier.wait(timeout=5)
            job = jobs.start_job(db_session, job_id, hostname=f"host-{n}", max_attempts=3)
            assert job is not None
            time.sleep(HOLD)
            return (job.status, job.attempts, job.started_at)

    outcomes = _race(claim)
    assert sorted(outcome[1] for outcome in outcomes) == [1, 2]
    assert {outcome[0] for outcome in outcomes} == {"running"}
    assert outcomes[0][2] == outcomes[1][2]  # started_at set once, by the first claim


def test_concurrent_create_job_with_one_id_makes_one_row(database: session.Database) -> None:
    job_id = uuid.uuid4()
    barrier = threading.Barrier(2)

    def create(n: int) -> tuple[uuid.UUID, object]:
        with database.transaction() as db_session:
            barrier.wait(timeout=5)
            job = jobs.create_job(
                db_session,
                job_id=job_id,
                type="backup",
                project_id="proj-1",
                payload={"from": n},
                celery_task_id="task-1",
            )
            time.sleep(HOLD)
            return (job.id, job.payload["from"])

    outcomes = _race(create)
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == job_id
    with database.transaction() as db_session:
        assert db_session.scalars(select(func.count()).select_from(models.Job)).one() == 1


def test_concurrent_record_backup_for_one_job_records_once(
    database: session.Database,
    make_job: Callable[..., uuid.UUID],
    make_new_backup: Callable[..., backups.NewBackup],
) -> None:
    job_id = make_job()
    new = make_new_backup(job_id=job_id, part_sizes=(10, 20, 30))
    barrier = threading.Barrier(2)

    def record(n: int) -> tuple[uuid.UUID, bool, int]:
        with database.transaction() as db_session:
            barrier.wait(timeout=5)
            backup, created = backups.record_backup(db_session, new)
            time.sleep(HOLD)
            return (backup.id, created, len(backup.parts))

    outcomes = _race(record)
    assert sorted(created for _, created, _ in outcomes) == [False, True]
    assert outcomes[0][0] == outcomes[1][0]
    assert {parts for _, _, parts in outcomes} == {3}
    with database.transaction() as db_session:
        assert db_session.scalars(select(func.count()).select_from(models.Backup)).one() == 1
        assert db_session.scalars(select(func.count()).select_from(models.BackupPart)).one() == 3
