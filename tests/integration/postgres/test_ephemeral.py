"""The per-job restore role on a real server: what it may do, and that it never stays.

Also: the worker's own sessions in a project's database run none of the owner's code, whatever
search_path the owner set on the database (source.SAFE_OPTIONS).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg2
import pytest

from tests.support.sources import ADMIN_DSN, admin_execute, drop_database, owner_role, query
from worker import errors
from worker.postgres import ephemeral, snapshot, source, target

PARAMS = source.SourceParams.from_url("postgresql://postgres@127.0.0.1:5432/postgres")


def role_exists(name: str) -> bool:
    return bool(query("postgres", f"SELECT 1 FROM pg_roles WHERE rolname = '{name}'"))


@pytest.fixture
def owner() -> Iterator[str]:
    with owner_role() as name:
        yield name


@pytest.fixture
def database(owner: str) -> Iterator[str]:
    name = f"bw_eph_{uuid.uuid4().hex[:8]}"
    assert target.create(PARAMS, name, owner)
    yield name
    drop_database(name)


def test_the_role_holds_the_owners_rights_only_and_is_gone_after_the_block(
    owner: str, database: str
) -> None:
    job_id = uuid.uuid4()
    with ephemeral.holding(PARAMS, job_id, owner) as role:
        assert role.name == f"bw_restore_{job_id.hex[:8]}"
        assert role.params.get("user") == role.name
        assert role.params.password
        assert role.params.password not in role.params.conninfo()
        assert role.params.env()["PGPASSWORD"] == role.params.password
        found = query(
            "postgres",
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, "
            "rolcanlogin, rolvaliduntil IS NOT NULL, "
            f"pg_has_role('{role.name}', '{owner}', 'MEMBER') FROM pg_roles "
            f"WHERE rolname = '{role.name}'",
        )
        assert found == [(False, False, False, False, False, True, True, True)]
        # The server keeps a SCRAM verifier, never the password.
        secret = query(
            "postgres", f"SELECT rolpassword FROM pg_authid WHERE rolname = '{role.name}'"
        )
        assert str(secret[0][0]).startswith("SCRAM-SHA-256$")
        # Code that leaves pg_restore's SET ROLE is the role itself: no superuser to reach.
        made = query(
            database,
            f"SET ROLE {owner}; RESET ROLE; SELECT current_user, "
            "(SELECT rolsuper FROM pg_roles WHERE rolname = session_user)",
            user=role.name,
        )
        assert made == [(role.name, False)]
        # What such code creates is handed to the database's owner when the role goes.
        query(database, "CREATE TABLE escaped (x int)", user=role.name)
    assert not role_exists(role.name)
    assert query(database, "SELECT tableowner FROM pg_tables WHERE tablename = 'escaped'") == [
        (owner,)
    ]


def test_the_role_is_dropped_when_the_block_fails(owner: str) -> None:
    job_id = uuid.uuid4()
    seen = []

    def fail() -> None:
        with ephemeral.holding(PARAMS, job_id, owner) as role:
            seen.append(role_exists(role.name))
            raise RuntimeError("pg_restore failed")

    with pytest.raises(RuntimeError):
        fail()
    assert seen == [True]
    assert not role_exists(ephemeral.name_of(job_id))


def test_a_drills_role_owns_its_scratch_database() -> None:
    job_id = uuid.uuid4()
    scratch = f"bw_eph_{job_id.hex[:8]}"
    try:
        with ephemeral.holding(PARAMS, job_id, None) as role:
            assert target.create(PARAMS, scratch, role.name)
            assert target.owner(PARAMS, scratch) == role.name
            query(scratch, "CREATE EXTENSION citext; CREATE TABLE t (c citext)", user=role.name)
            target.drop(PARAMS, scratch)
        assert not role_exists(role.name)
    finally:
        drop_database(scratch)


def test_an_unknown_owner_fails_naming_the_role() -> None:
    job_id = uuid.uuid4()
    with pytest.raises(errors.RestoreError, match="cannot create the restore role"):
        ephemeral.create(PARAMS, job_id, f"bw_nobody_{job_id.hex[:8]}")
    assert not role_exists(ephemeral.name_of(job_id))


def test_the_sweep_drops_leftovers_of_finished_jobs_and_expired_strangers_only(
    owner: str,
) -> None:
    jobs = {kind: uuid.uuid4() for kind in ("done", "running", "stranger", "expired", "busy")}
    for job_id in jobs.values():
        ephemeral.create(PARAMS, job_id, owner)
    names = {kind: ephemeral.name_of(job_id) for kind, job_id in jobs.items()}
    admin_execute(f"ALTER ROLE {names['expired']} VALID UNTIL '2000-01-01'")
    busy = psycopg2.connect(ADMIN_DSN.replace("user=postgres", f"user={names['busy']}"))
    try:
        states = {jobs["done"]: True, jobs["running"]: False, jobs["busy"]: True}
        dropped = ephemeral.sweep(PARAMS, states.get)
        assert names["done"] in dropped
        assert names["expired"] in dropped
        assert not {names["running"], names["stranger"], names["busy"]} & set(dropped)
        assert role_exists(names["running"])
        assert role_exists(names["busy"])
        assert not role_exists(names["done"])
        assert not role_exists(names["expired"])
    finally:
        busy.close()
        for name in names.values():
            ephemeral.drop(PARAMS, name)
    assert not any(role_exists(name) for name in names.values())


HOSTILE = """
CREATE SCHEMA evil;
CREATE FUNCTION evil.boom(n bigint) RETURNS bigint LANGUAGE plpgsql AS
    $$ BEGIN RAISE EXCEPTION 'the owner''s code ran'; END $$;
CREATE AGGREGATE evil.count(*) (SFUNC = evil.boom, STYPE = bigint, INITCOND = '0');
CREATE FUNCTION evil.pg_table_size(regclass) RETURNS bigint LANGUAGE plpgsql AS
    $$ BEGIN RAISE EXCEPTION 'the owner''s code ran'; END $$;
CREATE TABLE t (x int);
INSERT INTO t SELECT generate_series(1, 7);
"""


def test_our_sessions_in_a_project_database_ignore_its_search_path(
    owner: str, database: str
) -> None:
    query(database, HOSTILE)
    admin_execute(f'ALTER DATABASE "{database}" SET search_path = evil, pg_catalog, public')
    with pytest.raises(psycopg2.Error, match="the owner's code ran"):
        query(database, "SELECT count(*) FROM public.t")  # what an unprotected session runs
    assert snapshot.table_counts(PARAMS, database) == {"public.t": 7}
    with snapshot.exported(PARAMS, database, count_rows=True, lock_timeout=5) as export:
        contents = export.contents()
        assert contents.tables == {"public.t": 7}
        assert contents.owner == owner
    assert target.tables(PARAMS, database) == 1
    assert target.user_objects(PARAMS, database) > 0
    assert source.estimate_dump_size(PARAMS, database) is not None


def test_an_owner_that_is_the_urls_own_user_needs_no_role_of_its_own() -> None:
    job_id = uuid.uuid4()
    with ephemeral.holding(PARAMS, job_id, "postgres") as role:
        assert role.name == "postgres"
        assert role.params == PARAMS
        assert not role_exists(ephemeral.name_of(job_id))
    assert role_exists("postgres")


def test_a_url_user_without_createrole_is_told_what_it_needs() -> None:
    user = f"bw_nocr_{uuid.uuid4().hex[:8]}"
    admin_execute(f"CREATE ROLE {user} LOGIN CREATEDB")
    try:
        params = source.SourceParams.from_url(f"postgresql://{user}@127.0.0.1:5432/postgres")
        with pytest.raises(errors.RestoreError, match="needs CREATEROLE") as caught:
            ephemeral.create(params, uuid.uuid4(), None)
        assert "permission denied" in caught.value.message
    finally:
        admin_execute(f"DROP ROLE {user}")
