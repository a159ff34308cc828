"""A recovered database's dump, recorded as a backup, goes through the replace-with-undo path."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import psycopg2
import pytest

from tests.integration.restore.test_steps import Env, env, new_job, run_chain  # noqa: F401
from tests.support.sources import ADMIN_DSN, owner_role
from worker.contract import tasks
from worker.restore import job as rj
from worker.wal import handoff, receiver


def _dsn(database: str) -> str:
    return ADMIN_DSN.replace("dbname=postgres", f"dbname={database}")


def _sql(database: str, sql: str) -> list[tuple[object, ...]]:
    connection = psycopg2.connect(_dsn(database))
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


@pytest.fixture
def live() -> Iterator[str]:
    name = f"bw_pitr_live_{uuid.uuid4().hex[:8]}"
    _sql("postgres", f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        for leftover in _sql(
            "postgres", f"SELECT datname FROM pg_database WHERE datname LIKE '{name}%'"
        ):
            _sql("postgres", f'DROP DATABASE IF EXISTS "{leftover[0]}" WITH (FORCE)')


def test_the_dump_replaces_the_live_database_and_keeps_an_undo_point(env: Env, live: str) -> None:  # noqa: F811
    _sql(
        live, "CREATE TABLE log (id int PRIMARY KEY); INSERT INTO log SELECT generate_series(1, 5)"
    )
    archive = env.tmp / "recovered.pgdump"
    subprocess.run(
        [str(receiver.PG_BIN / "pg_dump"), "-Fc", "-f", str(archive), "-d", _dsn(live)], check=True
    )
    _sql(live, "INSERT INTO log SELECT generate_series(6, 9)")  # the damage after the target

    backup_id = handoff.record_as_backup(
        env.rt, archive, project_id=live, database=live, server="default", target="then"
    )
    req = rj.validate(rj.RESTORE, str(backup_id), live, False, "default", tasks.MODE_REPLACE)
    job = run_chain(env, new_job(env, req), "load")

    assert job["status"] == "completed", job["error"]
    assert _sql(live, "SELECT count(*) FROM log") == [(5,)]
    kept = _sql(
        "postgres", f"SELECT datname FROM pg_database WHERE datname LIKE '{live}__pre_restore_%'"
    )
    assert len(kept) == 1
    # The undo point is closed to connections (docs/restore.md); test_replace.py undoes one.
    assert _sql(
        "postgres", f"SELECT datallowconn FROM pg_database WHERE datname = '{kept[0][0]}'"
    ) == [(False,)]


def test_a_new_database_at_a_point_is_restored_as_its_owner_never_as_superuser(
    env: Env,  # noqa: F811
    live: str,
) -> None:
    # restore --to-time --target-database once ran pg_restore in the CLI as the server's
    # superuser: the project's code in the recovered database ran with that role's rights, and
    # the database and every object in it came back owned by the superuser.
    with owner_role() as owner:
        _sql("postgres", f'ALTER DATABASE "{live}" OWNER TO {owner}')
        _sql(live, f"SET ROLE {owner}; CREATE TABLE log (id int PRIMARY KEY)")
        _sql(live, f"SET ROLE {owner}; INSERT INTO log SELECT generate_series(1, 3)")
        archive = env.tmp / "recovered.pgdump"
        subprocess.run(
            [str(receiver.PG_BIN / "pg_dump"), "-Fc", "-f", str(archive), "-d", _dsn(live)],
            check=True,
        )
        into = f"{live}_then"
        backup_id = handoff.record_as_backup(
            env.rt, archive, project_id=live, database=live, server="default", target="then"
        )
        req = rj.validate(rj.RESTORE, str(backup_id), into, False, "default", tasks.MODE_NEW)
        job = run_chain(env, new_job(env, req), "load")

        assert job["status"] == "completed", job["error"]
        assert _sql(into, "SELECT count(*) FROM log") == [(3,)]
        database_owner = f"SELECT datdba::regrole::text FROM pg_database WHERE datname = '{into}'"
        assert _sql("postgres", database_owner) == [(owner,)]
        assert _sql(into, "SELECT tableowner FROM pg_tables WHERE tablename = 'log'") == [(owner,)]
