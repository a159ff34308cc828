"""The control-plane database goes down while the record step runs: nothing is lost, nothing
is left behind.

The control plane lives on a cluster of the test's own, so it can be stopped. The record step
is caught inside its transaction (the test holds a lock on control_plane.backups), then the
cluster stops: every session is cut, the step's included. The step is run again on its worker
(Celery's Task.retry, worker/jobs/retry.py) and, once the cluster is back, records the backup.
Afterwards there is exactly one backup and every message in the chat is one of its parts.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from db import migrate
from tests.acceptance.conftest import Stack, stack_on
from tests.support import services

PART_SIZE = "65536"  # several parts, so several messages could be orphaned


@pytest.fixture
def outage_stack(
    source_db: str, redis_db: int, tmp_path: Path
) -> Iterator[tuple[Stack, services.PostgresCluster]]:
    root = Path(tempfile.mkdtemp(prefix="bw-outage-"))
    root.chmod(0o755)  # mkdtemp makes it 0700: the postgres user must get in
    cluster = services.PostgresCluster(root / "pg", services.free_port(26700))
    cluster.init()
    cluster.start()
    admin = psycopg2.connect(cluster.dsn())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("CREATE DATABASE control")
    admin.close()
    url = f"postgresql+psycopg2://postgres@127.0.0.1:{cluster.port}/control"
    migrate.upgrade(url)
    try:
        with stack_on(url, source_db, redis_db, tmp_path) as built:
            yield built, cluster
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)


def record_blocked(cluster: services.PostgresCluster) -> bool:
    conn = psycopg2.connect(cluster.dsn("control"))
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND query ILIKE '%control_plane.backups%'"
            )
            return bool(cur.fetchone()[0])  # type: ignore[index]
    finally:
        conn.close()


@pytest.mark.timeout(240)
def test_a_control_plane_outage_during_record_leaves_one_backup_and_no_orphan(
    outage_stack: tuple[Stack, services.PostgresCluster],
) -> None:
    stack, cluster = outage_stack
    worker = stack.start_worker(BACKUP_PART_SIZE=PART_SIZE)
    lock = psycopg2.connect(cluster.dsn("control"))
    with lock.cursor() as cur:
        cur.execute("LOCK TABLE control_plane.backups IN ACCESS EXCLUSIVE MODE")
    job_id = stack.send(project_id="proj-outage", database=stack.source_db)
    deadline = time.monotonic() + 120
    while not record_blocked(cluster):
        assert time.monotonic() < deadline, f"the record step never started:\n{worker.log()}"
        time.sleep(0.1)
    cluster.stop("fast")  # the outage: every session is cut, the record step's and the lock's
    lock.close()
    time.sleep(4)
    cluster.start()
    row = stack.wait_job(job_id, timeout=120)
    assert (row["status"], row["attempts"]) == ("completed", 1), row["error"]
    assert stack.count_backups(job_id) == 1
    assert "the step runs again in" in worker.log()
    with stack.database.engine.connect() as conn:
        parts = {
            int(message)
            for (message,) in conn.exec_driver_sql(
                "SELECT p.message_id FROM control_plane.backup_parts p"
                " JOIN control_plane.backups b ON b.id = p.backup_id WHERE b.job_id = %(id)s",
                {"id": job_id},
            )
        }
    assert len(parts) >= 2
    alive = {int(str(m["message_id"])) for m in stack.standin.messages() if not m["deleted"]}
    assert alive == parts  # every message in the chat belongs to the one backup
