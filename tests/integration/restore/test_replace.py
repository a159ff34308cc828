"""Restores through staging on a real server: replace with undo, the sweep, thousands of tables.

The local test server runs with PostgreSQL's defaults (max_locks_per_transaction 64), which a
restore of 5,000 tables in one transaction would exceed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import psycopg2
import pytest

from tests.integration.restore.test_steps import (
    Env,
    make_backup,
    new_job,
    new_target,
    rows,
    run_chain,
)
from tests.support import sources
from tests.support.sources import ADMIN_DSN
from worker.contract import tasks
from worker.postgres import switch, target
from worker.restore import job as rj
from worker.restore import undo
from worker.scheduling import undo_points

MANY_TABLES = sources.MANY_TABLES


def connect(database: str) -> psycopg2.extensions.connection:
    conn = psycopg2.connect(ADMIN_DSN.replace("dbname=postgres", f"dbname={database}"))
    conn.autocommit = True
    return conn


def restore(env: Env, backup_id: uuid.UUID, name: str | None, mode: str) -> dict[str, object]:
    req = rj.validate(rj.RESTORE, str(backup_id), name, False, mode=mode)
    return run_chain(env, new_job(env, req), "load")


def test_replace_ends_sessions_keeps_an_undo_point_and_undo_brings_it_back(
    env: Env,
    source_db: str,
    targets: list[str],
) -> None:
    backup_id = make_backup(env, source_db, encrypted=True)
    project = new_target(targets)
    assert restore(env, backup_id, project, tasks.MODE_NEW)["status"] == "completed"
    client = connect(project)
    with client.cursor() as cur:
        cur.execute("INSERT INTO items (label) VALUES ('after the backup')")
    job = restore(env, backup_id, project, tasks.MODE_REPLACE)
    assert job["status"] == "completed", job["error"]
    databases = job["result"]["restore"]["databases"]  # type: ignore[index]
    names = switch.Names.of(project, uuid.UUID(str(job["id"])))
    targets += [names.undo, names.undone]
    assert databases["project"] == project
    assert databases["undo"] == names.undo
    with pytest.raises(psycopg2.OperationalError):
        client.cursor().execute("SELECT 1")  # the replace ended the client's session
    assert rows(project, "SELECT count(*) FROM items") == [(15000,)]  # reconnected: restored
    jid = undo.undo(env.rt, job["project_id"], str(job["id"]), None, task_id=str(uuid.uuid4()))
    assert rows(project, "SELECT count(*) FROM items") == [(15001,)]
    assert target.exists(env.rt.source(), names.undone)
    # The sweep leaves it until its time, then drops it.
    assert undo_points.drop_expired(env.rt) == []
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=25)
    assert undo_points.drop_expired(env.rt, now=later) == [names.undone]
    assert not target.exists(env.rt.source(), names.undone)
    assert jid is not None


def test_a_replace_of_a_missing_database_is_refused_before_any_download(
    env: Env,
    source_db: str,
) -> None:
    backup_id = make_backup(env, source_db, encrypted=False)
    downloads = len(env.standin.requests("download"))
    job = restore(env, backup_id, "bw_no_such_db_" + uuid.uuid4().hex[:6], tasks.MODE_REPLACE)
    assert job["status"] == "failed"
    assert "does not exist: a replace swaps an existing database" in str(job["error"])
    assert len(env.standin.requests("download")) == downloads


@pytest.fixture
def many_tables() -> Iterator[str]:
    with sources.many_tables_database() as name:
        yield name


@pytest.mark.timeout(600)
def test_five_thousand_tables_restore_in_both_modes_on_a_default_server(
    env: Env,
    many_tables: str,
    targets: list[str],
) -> None:
    backup_id = make_backup(env, many_tables, encrypted=False)
    name = new_target(targets)
    job = restore(env, backup_id, name, tasks.MODE_NEW)
    assert job["status"] == "completed", job["error"]
    count = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
    assert rows(name, count) == [(MANY_TABLES,)]
    with connect(name).cursor() as cur:
        cur.execute("DROP TABLE t1")
    job = restore(env, backup_id, name, tasks.MODE_REPLACE)
    assert job["status"] == "completed", job["error"]
    targets.append(job["result"]["restore"]["databases"]["undo"])  # type: ignore[index]
    assert rows(name, count) == [(MANY_TABLES,)]
