"""A spool that fills up during the dump: the job is retried later, and fails only for good.

The worker's spool is a small tmpfs (chaos/spool.py, needs root) filled with a ballast file
while pg_dump is held by a lock (as in test_reaper.py), so the dump's first write finds the
filesystem full (ENOSPC).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from chaos import spool
from tests.acceptance.conftest import Stack
from tests.acceptance.faults.test_reaper import hold_dump, locked_db, pg_dump_waiting
from tests.support.stack import job_row

__all__ = ["locked_db"]  # a fixture, used by name

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")

DELAY = "3"  # seconds: BACKUP_SPOOL_RETRY_DELAY, long enough for the test to see the wait


@pytest.fixture
def small_spool(stack: Stack) -> Iterator[spool.SmallSpool]:
    """The workers' spool directory as a 4 MB tmpfs."""
    made = spool.SmallSpool(stack.tmp / "spool", size_mb=4)
    made.create()
    assert made.mounted, made.note
    yield made
    for worker in stack.workers:
        worker.stop()  # before the unmount: a worker may still write there
    made.destroy()


def fill_during_dump(stack: Stack, small: spool.SmallSpool, database: str) -> str:
    """Send a backup, fill the spool while pg_dump waits on a lock, let pg_dump go."""
    lock = hold_dump(database)
    try:
        job_id = stack.send(project_id="proj-full", database=database)
        deadline = time.monotonic() + 60
        while not (
            (row := job_row(stack.database, job_id)) is not None
            and row["stage"] == "dump"
            and pg_dump_waiting(stack, database)
        ):
            assert time.monotonic() < deadline, f"the dump never started: {row}"
            time.sleep(0.05)
        assert small.fill() > 0
    finally:
        lock.rollback()
        lock.close()
    return job_id


def wait_retry_note(stack: Stack, job_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        row = job_row(stack.database, job_id)
        if row is not None and row["status"] == "pending" and row["error"]:
            return row
        time.sleep(0.02)
    raise AssertionError(f"the job was not put back: {job_row(stack.database, job_id)}")


@pytest.mark.timeout(120)
def test_a_spool_full_during_the_dump_is_retried_and_the_backup_completes(
    stack: Stack, small_spool: spool.SmallSpool, locked_db: str
) -> None:
    worker = stack.start_worker(BACKUP_SPOOL_RETRY_DELAY=DELAY)
    job_id = fill_during_dump(stack, small_spool, locked_db)
    waiting = wait_retry_note(stack, job_id)
    assert waiting["worker_hostname"] is None
    assert waiting["attempts"] == 1
    assert waiting["progress"] == 0
    note = str(waiting["error"])
    assert note.startswith(f"retrying in {DELAY} s on any worker (attempt 1 of 3): ")
    assert f"spool directory {small_spool.path} on " in note
    assert "is full" in note
    # Other jobs upload and free their parts meanwhile; here the ballast goes.
    small_spool.release()
    row = stack.wait_job(job_id, timeout=60)
    assert row["status"] == "completed", row["error"]
    assert row["attempts"] == 2
    assert row["error"] is None
    assert stack.count_backups(job_id) == 1
    assert f"job {job_id}: retrying in {DELAY} s" in worker.log()
    assert small_spool.leftovers() == []


@pytest.mark.timeout(120)
def test_a_spool_that_stays_full_fails_the_job_after_its_attempts(
    stack: Stack, small_spool: spool.SmallSpool, locked_db: str
) -> None:
    stack.start_worker(BACKUP_SPOOL_RETRY_DELAY="1", BACKUP_MAX_ATTEMPTS="3")
    job_id = fill_during_dump(stack, small_spool, locked_db)
    row = stack.wait_job(job_id, timeout=60)
    assert row["status"] == "failed"
    assert row["attempts"] == 3
    error = str(row["error"])
    assert error.startswith(f"spool directory {small_spool.path} on ")
    assert f"is full: the dump of {locked_db} had written " in error
    assert "gave up after 3 attempt(s) (BACKUP_MAX_ATTEMPTS=3)" in error
    assert "retried 2 time(s) after a full spool, 1 s apart" in error
    assert "point BACKUP_SPOOL_DIR at a larger disk" in error
    assert stack.count_backups(job_id) == 0
    assert stack.standin.requests("sendDocument") == []
    assert small_spool.leftovers() == []
