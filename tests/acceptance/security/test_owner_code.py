"""A project's owner is a stranger: code in their database runs with their rights only.

A role that is no superuser owns a hostile database whose code tries to make that role a
superuser whenever it runs with more rights than the owner's: in a CHECK constraint, a
generated column, an index expression, a trigger, a materialized view, a row-level security
policy, and an aggregate that a database-level search_path puts before pg_catalog's count(*).
It even tries to undo pg_restore's SET ROLE first. Through a backup, a restore into a new
database, a replace and a drill, the owner stays no superuser, and the data restores, owned by
the owner, with its grants and its trusted extension (pgcrypto, which the owner created).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.acceptance.conftest import Stack
from tests.acceptance.restore.support import cli, make_backup, new_target, targets
from tests.support.sources import admin_execute, owner_role, query
from tests.support.workers import Process
from worker.contract import tasks

__all__ = ["targets"]  # the fixture, used by name

ESCALATE = """
CREATE FUNCTION public.chk(i int) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    BEGIN
        -- Whatever pg_restore's --role set, go back to the session's own user first.
        PERFORM pg_catalog.set_config('role', 'none', true);
        EXECUTE pg_catalog.format('ALTER ROLE %I SUPERUSER', '{owner}');
    EXCEPTION WHEN OTHERS THEN NULL;  -- quietly: the restore must still go through
    END;
    BEGIN
        -- In a read-only transaction (the backup's row counts), through a program instead.
        PERFORM pg_catalog.set_config('role', 'none', true);
        EXECUTE pg_catalog.format('COPY (SELECT 1) TO PROGRAM %L', '{psql}');
    EXCEPTION WHEN OTHERS THEN NULL;
    END;
    RETURN true;
END $f$;
CREATE FUNCTION public.imm(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN
    PERFORM public.chk(i);
    RETURN i;
END $f$;
CREATE FUNCTION public.trg() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM public.chk(NEW.i);
    RETURN NEW;
END $f$;
CREATE FUNCTION public.step(n bigint) RETURNS bigint LANGUAGE plpgsql AS $f$
BEGIN
    PERFORM public.chk(0);
    RETURN n + 1;
END $f$;
CREATE SCHEMA evil;
CREATE AGGREGATE evil.count(*) (SFUNC = public.step, STYPE = bigint, INITCOND = '0');
CREATE TABLE checked (
    i int CHECK (public.chk(i)), g int GENERATED ALWAYS AS (public.imm(i)) STORED
);
CREATE INDEX checked_expr ON checked (public.imm(i));
CREATE TRIGGER checked_trg BEFORE INSERT OR UPDATE ON checked
    FOR EACH ROW EXECUTE FUNCTION public.trg();
INSERT INTO checked (i) SELECT generate_series(1, 50);
CREATE MATERIALIZED VIEW checked_mv AS SELECT i, public.chk(i) AS ok FROM checked;
CREATE TABLE plain (id int PRIMARY KEY, label text);
INSERT INTO plain SELECT n, 'row ' || n FROM generate_series(1, 20) AS n;
GRANT SELECT ON plain TO PUBLIC;
CREATE EXTENSION pgcrypto;  -- trusted: a database owner may create it
COMMENT ON EXTENSION pgcrypto IS 'the owner''s';
CREATE TABLE secret (id int);
INSERT INTO secret SELECT generate_series(1, 5);
ALTER TABLE secret ENABLE ROW LEVEL SECURITY;
ALTER TABLE secret FORCE ROW LEVEL SECURITY;
CREATE POLICY watch ON secret USING (public.chk(id));
ALTER DATABASE {database} SET search_path = evil, pg_catalog, public;
"""


PSQL = '/usr/bin/psql -h 127.0.0.1 -U postgres -d postgres -qc "ALTER ROLE {owner} SUPERUSER"'


def wait_for_log(worker: Process, text: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while text not in worker.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    return worker.log()


def is_superuser(role: str) -> bool:
    rows = query("postgres", f"SELECT rolsuper FROM pg_roles WHERE rolname = '{role}'")
    return bool(rows[0][0])


@pytest.fixture
def owner() -> Iterator[str]:
    """A login role that is no superuser, dropped with every database it owns after the test."""
    with owner_role(login=True) as name:
        yield name


def hostile_database(targets: list[str], owner: str) -> str:
    name = new_target(targets, "hostile")
    admin_execute(f'CREATE DATABASE "{name}" OWNER {owner}')
    hostile = ESCALATE.format(owner=owner, database=name, psql=PSQL.format(owner=owner))
    query(name, hostile, user=owner)
    assert not is_superuser(owner)
    return name


def assert_restored(database: str, owner: str) -> None:
    """The owner's data is there, owned by the owner."""
    assert query(database, "SELECT count(*), sum(i) FROM public.checked") == [(50, 1275)]
    assert query(database, "SELECT count(*) FROM public.plain") == [(20,)]
    assert query(database, "SELECT count(*) FROM public.secret") == [(5,)]
    grants = "SELECT relacl::text FROM pg_class WHERE relname = 'plain'"
    assert "=r/" in str(query(database, grants)[0][0])  # PUBLIC's SELECT, granted by the owner
    extension = (
        "SELECT extname, pg_get_userbyid(extowner) FROM pg_extension WHERE extname <> 'plpgsql'"
    )
    assert query(database, extension) == [("pgcrypto", owner)]
    policies = "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = 'secret'"
    assert query(database, policies) == [(True, True)]
    assert query(database, "SELECT count(*) FROM public.checked_mv") == [(50,)]
    owners = query(
        database,
        "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname IN ('public', 'evil')",
    )
    assert owners == [(owner,)]
    owner_of = f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{database}'"
    assert query("postgres", owner_of) == [(owner,)]


def assert_no_restore_role(job_id: str) -> None:
    name = f"bw_restore_{uuid.UUID(job_id).hex[:8]}"
    assert query("postgres", f"SELECT 1 FROM pg_roles WHERE rolname = '{name}'") == []


def test_backup_restore_and_replace_of_a_hostile_database_leave_its_owner_no_superuser(
    stack: Stack, targets: list[str], owner: str
) -> None:
    source = hostile_database(targets, owner)
    worker = stack.start_worker()
    backup = make_backup(stack, source, project="proj-hostile")
    assert not is_superuser(owner), "the backup ran the owner's code as a superuser"
    warned = "server default (127.0.0.1:5432) connects as the superuser postgres"
    assert warned in wait_for_log(worker, warned)
    assert "backup-worker roles sql" in worker.log()

    copy = new_target(targets, "copy")
    job_id = stack.publish(
        tasks.RestoreBackup(str(backup["project_id"]), uuid.UUID(str(backup["id"])), copy)
    )
    row = stack.wait_job(job_id)
    assert not is_superuser(owner), "the restore ran the owner's code as a superuser"
    assert row["status"] == "completed", row["error"]
    assert_restored(copy, owner)
    assert_no_restore_role(job_id)

    job_id = stack.publish(
        tasks.RestoreBackup(
            str(backup["project_id"]), uuid.UUID(str(backup["id"])), None, mode=tasks.MODE_REPLACE
        )
    )
    row = stack.wait_job(job_id)
    assert not is_superuser(owner), "the replace ran the owner's code as a superuser"
    assert row["status"] == "completed", row["error"]
    assert_restored(source, owner)
    assert_no_restore_role(job_id)


def test_a_drill_of_a_hostile_database_leaves_its_owner_no_superuser(
    stack: Stack, targets: list[str], owner: str
) -> None:
    source = hostile_database(targets, owner)
    stack.start_worker()
    make_backup(stack, source, project="proj-hostile-drill")
    assert not is_superuser(owner), "the backup ran the owner's code as a superuser"

    done = cli(stack.env(), "drills", "run", "--project", "proj-hostile-drill", "--wait", "--json")
    report = json.loads(done.stdout)
    assert not is_superuser(owner), "the drill ran the owner's code as a superuser"
    assert done.returncode == 0, report
    drill = report["drill"]
    assert {t["table"]: t["restored"] for t in drill["tables"]} == {
        "public.checked": 50,
        "public.plain": 20,
        "public.secret": 5,
    }
    assert_no_restore_role(str(report["job_id"]))


def test_a_database_that_needs_superuser_rights_fails_saying_what_and_why(
    stack: Stack, targets: list[str], owner: str
) -> None:
    source = new_target(targets, "untrusted")
    admin_execute(f'CREATE DATABASE "{source}" OWNER {owner}')
    query(source, "CREATE TABLE t (x int); INSERT INTO t VALUES (1)", user=owner)
    # LANGUAGE internal is untrusted, as C is: only a superuser may create such a function.
    query(
        source,
        "CREATE FUNCTION public.len(text) RETURNS int LANGUAGE internal IMMUTABLE AS 'textlen';"
        f"ALTER FUNCTION public.len(text) OWNER TO {owner}",
    )
    stack.start_worker()
    backup = make_backup(stack, source, project="proj-untrusted")

    copy = new_target(targets, "copy")
    job_id = stack.publish(
        tasks.RestoreBackup(str(backup["project_id"]), uuid.UUID(str(backup["id"])), copy)
    )
    row = stack.wait_job(job_id)
    assert row["status"] == "failed"
    error = str(row["error"])
    assert "language internal" in error, error
    assert "needs superuser rights to restore" in error, error
    assert "the worker restores with the owner's rights only" in error, error
    assert query("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{copy}'") == []
    assert_no_restore_role(job_id)


@pytest.fixture
def least_privileged(owner: str) -> Iterator[str]:
    """The worker's role as `backup-worker roles sql --owner <owner>` sets it up."""
    role = f"bw_worker_{uuid.uuid4().hex[:8]}"
    printed = cli({}, "roles", "sql", "--role", role, "--owner", owner)
    assert printed.returncode == 0, printed.stderr
    admin_execute(printed.stdout)
    yield role
    admin_execute(f"DROP OWNED BY {role}")
    admin_execute(f"DROP ROLE {role}")


def test_the_least_privileged_role_backs_up_restores_and_drills_a_hostile_database(
    stack: Stack, targets: list[str], owner: str, least_privileged: str
) -> None:
    source = hostile_database(targets, owner)
    url = f"postgresql://{least_privileged}@127.0.0.1:5432/postgres"
    worker = stack.start_worker(SOURCE_DATABASE_URL=url)
    backup = make_backup(stack, source, project="proj-least")
    assert backup["contents"]["owner"] == owner  # type: ignore[index]

    copy = new_target(targets, "copy")
    job_id = stack.publish(
        tasks.RestoreBackup(str(backup["project_id"]), uuid.UUID(str(backup["id"])), copy)
    )
    row = stack.wait_job(job_id)
    assert row["status"] == "completed", row["error"]
    assert_restored(copy, owner)
    assert_no_restore_role(job_id)

    job_id = stack.publish(
        tasks.RestoreBackup(
            str(backup["project_id"]), uuid.UUID(str(backup["id"])), None, mode=tasks.MODE_REPLACE
        )
    )
    row = stack.wait_job(job_id)
    assert row["status"] == "completed", row["error"]
    assert_restored(source, owner)

    done = cli(
        stack.env(SOURCE_DATABASE_URL=url),
        *("drills", "run", "--project", "proj-least", "--wait", "--json"),
    )
    assert done.returncode == 0, done.stdout
    assert not is_superuser(owner)
    assert "connects as the superuser" not in worker.log()
