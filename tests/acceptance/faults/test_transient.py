"""Transient failures are tried again on any worker, deterministic ones fail at once.

The dump is held mid-way by a lock on a partitioned table (as in test_reaper), then cut short
the way production cuts it: pg_dump SIGKILLed (what the kernel's OOM killer does), or its source
server restarted under it. Each time the job goes back to pending and completes at attempt 2
after BACKUP_RETRY_DELAY (1 s here, so the test is short). A wrong password is no reason to try
again: the job fails at attempt 1.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy import text

from tests.acceptance.conftest import Stack
from tests.acceptance.faults.test_reaper import hold_dump, locked_db
from tests.support import services
from tests.support.stack import job_row

__all__ = ["locked_db"]

ROLE = "transient_src"


def pg_dump_pids(database: str) -> list[int]:
    """The pg_dump processes dumping `database` (their conninfo names it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"pg_dump") and any(database.encode() in a for a in argv):
            found.append(int(entry.name))
    return found


def wait_dump_blocked(stack: Stack, job_id: str, database: str, dsn: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        row = job_row(stack.database, job_id)
        if row is not None and row["stage"] == "dump" and lock_waiters(dsn, database):
            return
        assert time.monotonic() < deadline, f"the dump never started: {row}"
        time.sleep(0.1)


def lock_waiters(dsn: str, database: str) -> int:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                " AND application_name LIKE 'backup-worker%%' AND wait_event_type = 'Lock'",
                (database,),
            )
            return int(cur.fetchone()[0])  # type: ignore[index]
    finally:
        conn.close()


@pytest.mark.timeout(150)
def test_a_pg_dump_killed_by_sigkill_completes_at_attempt_2(stack: Stack, locked_db: str) -> None:
    worker = stack.start_worker(BACKUP_RETRY_DELAY="1")
    lock = hold_dump(locked_db)
    try:
        job_id = stack.send(project_id="proj-oom", database=locked_db)
        wait_dump_blocked(
            stack, job_id, locked_db, "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
        )
        pids = pg_dump_pids(locked_db)
        assert len(pids) == 1, pids
        os.kill(pids[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while (row := job_row(stack.database, job_id)) is not None and row["attempts"] == 1:
            assert time.monotonic() < deadline, row
            time.sleep(0.05)
    finally:
        lock.rollback()
        lock.close()
    row = stack.wait_job(job_id)
    assert (row["status"], row["attempts"]) == ("completed", 2), row["error"]
    assert stack.count_backups(job_id) == 1
    assert "retrying in 1 s on any worker (attempt 1 of 3): pg_dump was killed by SIGKILL" in (
        worker.log()
    )


@pytest.fixture
def source_cluster() -> Iterator[tuple[services.PostgresCluster, str]]:
    """A throwaway cluster (it is restarted) with a password-protected role owning `app`."""
    root = Path(tempfile.mkdtemp(prefix="bw-transient-"))
    root.chmod(0o755)  # mkdtemp makes it 0700: the postgres user must get in
    cluster = services.PostgresCluster(root / "source", services.free_port(26500))
    cluster.init()
    cluster.start()
    password = "pw-" + uuid.uuid4().hex
    admin = psycopg2.connect(cluster.dsn())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD %s", (password,))
        cur.execute(f"CREATE DATABASE app OWNER {ROLE}")
    admin.close()
    conn = psycopg2.connect(cluster.dsn("app"))
    with conn, conn.cursor() as cur:
        cur.execute(
            f"SET ROLE {ROLE};"
            " CREATE TABLE items AS SELECT i AS id, md5(i::text) AS label"
            "  FROM generate_series(1, 5000) AS i;"
            " CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);"
            " CREATE TABLE events_2025 PARTITION OF events"
            "  FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');"
        )
    conn.close()
    try:
        yield cluster, password
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.timeout(150)
def test_a_source_server_restarted_mid_dump_completes_at_attempt_2(
    stack: Stack, source_cluster: tuple[services.PostgresCluster, str]
) -> None:
    cluster, password = source_cluster
    url = f"postgresql://{ROLE}:{password}@127.0.0.1:{cluster.port}/postgres"
    worker = stack.start_worker(SOURCE_DATABASE_URL=url, BACKUP_RETRY_DELAY="1")
    lock = psycopg2.connect(cluster.dsn("app"))
    with lock.cursor() as cur:
        cur.execute("LOCK TABLE ONLY events IN ACCESS EXCLUSIVE MODE")
    job_id = stack.send(project_id="proj-failover", database="app")
    wait_dump_blocked(stack, job_id, "app", cluster.dsn())
    cluster.restart(down_for=0.5)  # every session is cut, the lock's with them
    lock.close()
    row = stack.wait_job(job_id)
    assert (row["status"], row["attempts"]) == ("completed", 2), row["error"]
    assert stack.count_backups(job_id) == 1
    assert "retrying in 1 s on any worker (attempt 1 of 3)" in worker.log()
    assert password not in worker.log()


@pytest.mark.timeout(120)
def test_a_wrong_password_fails_at_attempt_1(
    stack: Stack, source_cluster: tuple[services.PostgresCluster, str]
) -> None:
    cluster, _password = source_cluster
    wrong = "wrong-" + uuid.uuid4().hex
    url = f"postgresql://{ROLE}:{wrong}@127.0.0.1:{cluster.port}/postgres"
    worker = stack.start_worker(SOURCE_DATABASE_URL=url, BACKUP_RETRY_DELAY="1")
    job_id = stack.send(project_id="proj-badpw", database="app")
    row = stack.wait_job(job_id)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "password" in str(row["error"])
    assert wrong not in str(row["error"])
    assert wrong not in worker.log()
    with stack.database.engine.connect() as conn:
        sent = conn.execute(
            text("SELECT count(*) FROM control_plane.backups WHERE job_id = :id"), {"id": job_id}
        ).scalar_one()
    assert sent == 0
