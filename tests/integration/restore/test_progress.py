"""A restore's jobs row moves during pg_restore: bytes of table data, not only start and end."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import psycopg2
import pytest

from db.queries import jobs as db_jobs
from tests.integration.restore.test_steps import Env, make_backup, new_job, new_target
from tests.support.sources import admin_execute, drop_database
from worker.jobs import runtime
from worker.restore import job as rj
from worker.restore import load
from worker.restore import steps as restore

TABLES = 8
ROWS = 150_000  # a table: about 6 MB of COPY text, a few kB once compressed
INTERVAL = 0.05  # JOB_PROGRESS_INTERVAL here: seconds between two progress writes


@pytest.fixture(scope="module")
def tables_db() -> Iterator[str]:
    name = f"bw_rprog_{uuid.uuid4().hex[:8]}"
    admin_execute(f'CREATE DATABASE "{name}"')
    conn = psycopg2.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={name}")
    with conn, conn.cursor() as cur:
        for table in range(TABLES):
            cur.execute(
                f"CREATE TABLE t{table} AS SELECT g AS id, "
                "md5(mod(g, 500)::text) AS label FROM generate_series(1, %s) AS g",
                (ROWS,),
            )
    conn.close()
    yield name
    drop_database(name)


def rows_seen(env: Env, job_id: uuid.UUID, stop: threading.Event) -> list[tuple[object, ...]]:
    """(stage, progress, bytes_done, bytes_total) each time the row changes, until `stop`."""
    seen: list[tuple[object, ...]] = []

    def watch() -> None:
        while not stop.wait(0.01):
            with env.rt.database.transaction() as db:
                job = db_jobs.get_job(db, job_id)
                assert job is not None
                now = (job.stage, job.progress, job.bytes_done, job.bytes_total)
            if not seen or seen[-1] != now:
                seen.append(now)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return seen


def test_pg_restore_reports_its_table_data_as_it_goes(
    env: Env, tables_db: str, targets: list[str]
) -> None:
    config = env.rt.settings.model_copy(update={"job_progress_interval": INTERVAL})
    rt = runtime.Runtime(settings=config, database=env.rt.database)
    fast = Env(rt, env.standin, env.key_file, env.recipient, env.tmp)
    backup_id = make_backup(fast, tables_db)
    job_id = new_job(fast, rj.validate(rj.RESTORE, str(backup_id), new_target(targets)))
    stop = threading.Event()
    seen = rows_seen(fast, job_id, stop)
    try:
        restore.download_step(rt, job_id, hostname="test@host")
        load.load_step(rt, job_id)
    finally:
        stop.set()
    with rt.database.transaction() as db:
        job = db_jobs.get_job(db, job_id)
        assert job is not None
        assert job.status == "completed", job.error
        assert job.progress == 100
    restoring = [row for row in seen if row[0] == "restore" and row[2] is not None]
    total = restoring[-1][3]
    assert isinstance(total, int)
    assert total > TABLES * ROWS * 33  # at least "id\tlabel\n" a row
    done = [int(str(row[2])) for row in restoring]
    assert done == sorted(done)
    assert done[-1] == total
    between = {value for value in done if 0 < value < total}
    assert len(between) >= 3, restoring  # it moved during pg_restore, not only at its ends
    progress = [int(str(row[1])) for row in restoring]
    assert progress == sorted(progress)
    assert progress[0] < progress[-1]
