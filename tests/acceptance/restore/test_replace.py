"""Replacing a project's database in place, with real worker processes: sessions, a kill, undo.

The project's database is made, backed up, then changed, so that its "old" contents (what it
holds when the replace begins) and its "new" ones (the backup's) differ; each test compares
`pg_dump` text of the project's database with one of the two.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import psycopg2
import pytest

from tests.acceptance.conftest import Stack
from tests.acceptance.restore.support import (
    cli,
    dump_text,
    make_backup,
    new_target,
    project_of,
    send_restore,
    targets,
)
from tests.support import sources, workers
from tests.support.sources import (
    make_source_database,
)
from tests.support.stack import age_heartbeat, job_row
from worker.contract import tasks
from worker.postgres import switch

__all__ = ["targets"]  # the fixture, used by name

MANY_TABLES = sources.MANY_TABLES
COUNT_TABLES = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"


def connect(database: str) -> psycopg2.extensions.connection:
    return psycopg2.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={database}")


def scalar(database: str, query: str) -> object:
    conn = connect(database)
    try:
        with conn.cursor() as cur:
            cur.execute(query)
            row = cur.fetchone()
            assert row is not None
            return row[0]
    finally:
        conn.close()


def change(database: str) -> None:
    """What happens to the project's database after its backup: a row added, one changed."""
    conn = connect(database)
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO items (label) VALUES ('after the backup')")
        cur.execute("UPDATE items SET label = 'changed' WHERE id = 1")
    conn.close()


@pytest.fixture
def project(targets: list[str]) -> str:
    """A project's database (a small source database), dropped after the test."""
    name = new_target(targets, "proj")
    make_source_database(name, rows=2000)
    return name


def replace(stack: Stack, backup_id: object, database: str | None = None) -> str:
    """Send backups.restore with mode replace as the api-gateway does; the job id."""
    project = project_of(stack, backup_id)
    message = tasks.RestoreBackup(
        project, uuid.UUID(str(backup_id)), database, mode=tasks.MODE_REPLACE
    )
    return stack.publish(message)


def keep_names(targets: list[str], database: str, job_id: str) -> switch.Names:
    """The job's three names, all dropped after the test whatever it left."""
    names = switch.Names.of(database, uuid.UUID(job_id))
    targets += [names.staging, names.undo, names.undone]
    return names


def switch_phase(stack: Stack, job_id: str) -> str | None:
    row = job_row(stack.database, job_id)
    result = row.get("result") if row is not None else None
    record = result.get("switch") if isinstance(result, dict) else None
    return str(record["phase"]) if isinstance(record, dict) else None


def test_a_replace_ends_a_clients_session_and_undo_from_the_cli_brings_the_old_rows_back(
    stack: Stack, targets: list[str], project: str
) -> None:
    worker = stack.start_worker()
    backup = make_backup(stack, project)
    new = dump_text(project)
    change(project)
    old = dump_text(project)
    assert old != new
    client = connect(project)  # idle in a transaction that has read the table
    with client.cursor() as cur:
        cur.execute("SELECT count(*) FROM items")
        assert cur.fetchone() == (2001,)

    job_id = replace(stack, backup["id"])
    names = keep_names(targets, project, job_id)
    row = stack.wait_job(job_id)
    assert row["status"] == "completed", row["error"]
    databases = row["result"]["restore"]["databases"]  # type: ignore[index]
    assert databases == {
        "project": project,
        "undo": names.undo,
        "undo_expires_at": databases["undo_expires_at"],
    }
    with pytest.raises(psycopg2.OperationalError):
        client.cursor().execute("SELECT 1")  # the switch ended the client's session
    client.close()
    again = connect(project)  # the client reconnects: to the restored database
    with again.cursor() as cur:
        cur.execute("SELECT count(*), count(*) FILTER (WHERE label = 'changed') FROM items")
        assert cur.fetchone() == (2000, 0)
    again.close()
    assert dump_text(project) == new

    done = cli(worker.env, "restore", "undo", job_id, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["status"] == "completed"
    assert dump_text(project) == old  # the rows from before the replace, the change included
    assert scalar("postgres", f"SELECT count(*) FROM pg_database WHERE datname = '{names.undone}'")
    assert worker.alive()


@pytest.mark.timeout(150)
def test_a_worker_killed_between_the_renames_leaves_the_database_whole_after_the_reaper(
    stack: Stack, targets: list[str], project: str
) -> None:
    # -n: the dead host has a name of its own, so the next worker is another host to the reaper.
    first = stack.start_worker(
        "-n", f"switch-dead-{uuid.uuid4().hex[:6]}@%h", RESTORE_SWITCH_PAUSE="120"
    )
    backup = make_backup(stack, project)
    new = dump_text(project)
    change(project)
    old = dump_text(project)

    job_id = replace(stack, backup["id"])
    names = keep_names(targets, project, job_id)
    deadline = time.monotonic() + 60
    while switch_phase(stack, job_id) != switch.RENAMED:
        assert time.monotonic() < deadline, f"no first rename: {job_row(stack.database, job_id)}"
        time.sleep(0.05)
    workers.kill_tree(first.proc)  # as when the host dies, with the project's name missing
    assert not scalar("postgres", f"SELECT count(*) FROM pg_database WHERE datname = '{project}'")
    age_heartbeat(stack.database, job_id)

    # -n: another host than the dead one.
    stack.start_worker("-n", f"switch-next-{uuid.uuid4().hex[:6]}@%h")
    stack.publisher.send(tasks.ReapJobs())
    row = stack.wait_job(job_id)
    after = dump_text(project)
    assert after in (old, new)  # wholly one or the other
    # Staging was restored and checked before the first rename: the reaper finishes the switch.
    assert row["status"] == "completed", row["error"]
    assert row["result"]["restore"]["settled_by"] == "reaper"  # type: ignore[index]
    assert after == new
    assert scalar("postgres", f"SELECT count(*) FROM pg_database WHERE datname = '{names.undo}'")
    assert not scalar(
        "postgres", f"SELECT count(*) FROM pg_database WHERE datname = '{names.staging}'"
    )


@pytest.fixture
def many_tables() -> Iterator[str]:
    with sources.many_tables_database() as name:
        yield name


@pytest.mark.timeout(900)
def test_five_thousand_tables_restore_through_the_worker_in_both_modes(
    stack: Stack, targets: list[str], many_tables: str
) -> None:
    # Row counting on, as shipped: it skips a database of this many tables (their locks would
    # not fit beside pg_dump's in a default server's lock table), so the backup goes through.
    worker = stack.start_worker()
    backup = make_backup(stack, many_tables, project="proj-many")
    name = new_target(targets)
    job_id = send_restore(stack, backup_id=str(backup["id"]), target_database=name)
    row = stack.wait_job(job_id, timeout=400)
    assert row["status"] == "completed", row["error"]
    assert scalar(name, COUNT_TABLES) == MANY_TABLES
    assert "row counts skipped: 5000 tables" in worker.log()
    conn = connect(name)
    with conn, conn.cursor() as cur:
        cur.execute("DROP TABLE t1")
    conn.close()

    job_id = replace(stack, backup["id"], name)
    keep_names(targets, name, job_id)
    row = stack.wait_job(job_id, timeout=400)
    assert row["status"] == "completed", row["error"]
    assert scalar(name, COUNT_TABLES) == MANY_TABLES
