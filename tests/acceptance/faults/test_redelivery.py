"""Redelivery: one backup per job, however often its messages arrive (a database guard).

1. The same backups.create message (same task id) delivered twice, and two messages for one
   gateway job: the second copy finds the job claimed and starts nothing.
2. A step redelivered by Redis after its visibility timeout while the first copy still runs:
   the dump is held by a lock; a sweeper connection whose visibility timeout is 5 s runs
   kombu's own `restore_visible` (what every worker runs every 10 x 10 s), which puts the
   unacknowledged dump message back in the worker's queue, and the worker starts a second copy
   beside the first. (BACKUP_VISIBILITY_TIMEOUT stays at its 60 s minimum: kombu scans only
   every ~100 s, which would make the test slow, and the sweep is the same code either way.)
   The per-job advisory lock that every step takes (worker/jobs/runner.py) makes that copy stop.
"""

from __future__ import annotations

import time
import uuid

import pytest
from celery import Celery
from sqlalchemy import text

from tests.acceptance.conftest import Stack
from tests.acceptance.faults.test_reaper import hold_dump, locked_db, pg_dump_waiting
from tests.support.stack import job_row
from worker.jobs import intake

__all__ = ["locked_db"]


def part_count(stack: Stack, job_id: str) -> int:
    with stack.database.engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT part_count FROM control_plane.backups WHERE job_id = :id"),
                {"id": job_id},
            ).scalar_one()
        )


@pytest.mark.timeout(120)
def test_the_same_message_twice_makes_one_job_and_one_backup(stack: Stack) -> None:
    worker = stack.start_worker(BACKUP_PART_SIZE="131072")
    task_id = str(uuid.uuid4())
    for _ in range(2):
        stack.send(project_id="proj-twice", database=stack.source_db, task_id=task_id)
    # A gateway job sent twice under two task ids.
    gateway_job = str(uuid.uuid4())
    with stack.database.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO control_plane.jobs (id, type, project_id, status)"
                " VALUES (:id, 'backup', 'proj-gw', 'pending')"
            ),
            {"id": gateway_job},
        )
    for _ in range(2):
        stack.send(project_id="proj-gw", database=stack.source_db, job_id=gateway_job)
    derived = str(intake.job_id_for_task(task_id))
    for job in (derived, gateway_job):
        row = stack.wait_job(job)
        assert row["status"] == "completed", row["error"]
        assert row["attempts"] == 1
        assert stack.count_backups(job) == 1
    parts = part_count(stack, derived) + part_count(stack, gateway_job)
    assert len(stack.standin.requests("sendDocument")) == parts
    assert worker.log().count("already claimed or finished, nothing to do") == 2


@pytest.mark.timeout(150)
def test_a_step_redelivered_after_the_visibility_timeout_while_running_is_stopped(
    stack: Stack, locked_db: str
) -> None:
    worker = stack.start_worker(BACKUP_VISIBILITY_TIMEOUT="60")
    sweeper = Celery("sweeper", broker=stack.broker_url)
    sweeper.conf.broker_transport_options = {"visibility_timeout": 5}
    lock = hold_dump(locked_db)
    try:
        job_id = stack.send(project_id="proj-redeliver", database=locked_db)
        deadline = time.monotonic() + 60
        while not pg_dump_waiting(stack, locked_db):
            assert time.monotonic() < deadline, worker.log()
            time.sleep(0.1)
        (dump_task,) = {
            line.split("backups.dump[", 1)[1].split("]", 1)[0]
            for line in worker.log().splitlines()
            if "Task backups.dump[" in line and "received" in line
        }
        time.sleep(6)  # older than the sweeper's visibility timeout
        with sweeper.connection_for_write() as conn:
            conn.default_channel.qos.restore_visible(num=100, interval=1)  # type: ignore[attr-defined]
        deadline = time.monotonic() + 20
        while worker.log().count(f"Task backups.dump[{dump_task}] received") < 2:
            assert time.monotonic() < deadline, worker.log()
            time.sleep(0.2)
        deadline = time.monotonic() + 20
        while "another copy of this step is running" not in worker.log():
            assert time.monotonic() < deadline, worker.log()
            time.sleep(0.2)
    finally:
        lock.rollback()
        lock.close()
        sweeper.close()
    row = stack.wait_job(job_id, timeout=60)
    assert row["status"] == "completed", row["error"]
    assert row["attempts"] == 1
    assert stack.count_backups(job_id) == 1
    assert len(stack.standin.requests("sendDocument")) == part_count(stack, job_id)
    assert job_row(stack.database, job_id) is not None
