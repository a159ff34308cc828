"""A worker killed with SIGKILL mid-dump: the reaper re-runs its job elsewhere, or fails it.

The dump is held mid-way by a lock: the source database has a partitioned table whose parent
the test locks, so pg_dump (which locks every table it dumps) waits with the job running in
stage "dump" and its spool directory made. The whole worker (its one process, whose pool
threads run the steps, and pg_dump) is then killed with SIGKILL, as when a host dies: with the
threads pool no part of a worker can die alone, so this is also what task_reject_on_worker_lost
used to cover for a prefork child.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy import text

from tests.acceptance.conftest import Stack
from tests.support import workers
from tests.support.sources import drop_database, make_source_database
from tests.support.stack import age_heartbeat, job_row
from worker.contract import tasks


@pytest.fixture
def locked_db() -> Iterator[str]:
    """A source database with a partitioned table, for the test to lock."""
    name = f"bw_reap_{uuid.uuid4().hex[:8]}"
    make_source_database(name, rows=2000)
    conn = psycopg2.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={name}")
    with conn, conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);"
            " CREATE TABLE events_2025 PARTITION OF events"
            "  FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');"
            " INSERT INTO events SELECT i, date '2025-03-01' FROM generate_series(1, 100) i;"
        )
    conn.close()
    yield name
    drop_database(name)


def hold_dump(database: str) -> psycopg2.extensions.connection:
    """Lock the partitioned parent only: the size estimate passes, pg_dump waits."""
    conn = psycopg2.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={database}")
    with conn.cursor() as cur:
        cur.execute("LOCK TABLE ONLY events IN ACCESS EXCLUSIVE MODE")
    return conn


def pg_dump_waiting(stack: Stack, database: str) -> bool:
    with stack.database.engine.connect() as conn:
        waiting = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = :db"
                " AND application_name LIKE 'backup-worker%' AND wait_event_type = 'Lock'"
            ),
            {"db": database},
        ).scalar_one()
    return bool(waiting)


def kill_host(worker: workers.Process) -> None:
    """SIGKILL the worker and everything it started, as when its host dies."""
    workers.kill_tree(worker.proc)


def kill_mid_dump(stack: Stack, database: str, **env: str) -> tuple[str, Path, str]:
    """Start a worker, send a backup, kill the worker while pg_dump waits; returns the job."""
    # -n: the dead host has a name of its own, so a later worker is another host to the reaper.
    first = stack.start_worker("-n", f"reap-dead-{uuid.uuid4().hex[:6]}@%h", **env)
    lock = hold_dump(database)
    try:
        job_id = stack.send(project_id="proj-reap", database=database)
        deadline = time.monotonic() + 60
        while not (
            (row := job_row(stack.database, job_id)) is not None
            and row["status"] == "running"
            and row["stage"] == "dump"
            and pg_dump_waiting(stack, database)
        ):
            assert time.monotonic() < deadline, f"the dump never started: {row}\n{first.log()}"
            time.sleep(0.1)
        spool = stack.tmp / "spool" / job_id
        assert spool.is_dir()
        dead_host = str(row["worker_hostname"])
        kill_host(first)
    finally:
        lock.rollback()
        lock.close()
    age_heartbeat(stack.database, job_id)
    return job_id, spool, dead_host


def reap(stack: Stack) -> None:
    stack.publisher.send(tasks.ReapJobs())


def spool_files(stack: Stack) -> list[Path]:
    root = stack.tmp / "spool"
    return [path for path in root.rglob("*")] if root.exists() else []


@pytest.mark.timeout(150)
def test_a_killed_dump_is_rerun_by_another_worker_and_completes(
    stack: Stack, locked_db: str
) -> None:
    job_id, _spool, dead_host = kill_mid_dump(stack, locked_db)
    assert job_row(stack.database, job_id)["status"] == "running"  # type: ignore[index]
    # -n: another host than the dead one, as the reaper must see it.
    second = stack.start_worker("-n", f"reap-next-{uuid.uuid4().hex[:6]}@%h")
    reap(stack)
    row = stack.wait_job(job_id)
    assert row["status"] == "completed", row["error"]
    assert row["attempts"] == 2
    assert row["worker_hostname"] not in (None, dead_host)
    said = f"dump went silent on {dead_host}, which does not answer; sent again from the start"
    assert said + " (attempt 2 of 3)" in second.log()
    assert stack.count_backups(job_id) == 1
    assert len(stack.standin.requests("sendDocument")) >= 1
    assert spool_files(stack) == []


@pytest.mark.timeout(150)
def test_a_killed_dump_without_attempts_left_ends_failed_and_its_spool_is_removed(
    stack: Stack, locked_db: str
) -> None:
    job_id, spool, _ = kill_mid_dump(stack, locked_db, BACKUP_MAX_ATTEMPTS="1")
    stack.start_worker(BACKUP_MAX_ATTEMPTS="1")
    reap(stack)
    row = stack.wait_job(job_id)
    assert row["status"] == "failed"
    assert "stopped sending heartbeats during dump" in str(row["error"])
    assert "all 1 attempts are used" in str(row["error"])
    assert stack.count_backups(job_id) == 0
    assert stack.standin.requests("sendDocument") == []
    # The reaper removes the spool of finished jobs on its own host (here the same disk).
    deadline = time.monotonic() + 10
    while spool.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert spool_files(stack) == []
