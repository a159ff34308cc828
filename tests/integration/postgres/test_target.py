"""The restore target and pg_restore on a real server; the restore queries on the real schema."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator

import psycopg2
import pytest
from sqlalchemy import select

from db import models, session
from db.queries import jobs as db_jobs
from db.queries import restores as db_restores
from tests.support.sources import ADMIN_DSN, drop_database, make_source_database
from worker import errors
from worker.postgres import pgrestore, source, target

PARAMS = source.SourceParams.from_url("postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def name() -> Iterator[str]:
    database = f"bw_tgt_{uuid.uuid4().hex[:8]}"
    yield database
    drop_database(database)


def execute(database: str, statement: str) -> None:
    conn = psycopg2.connect(ADMIN_DSN.replace("dbname=postgres", f"dbname={database}"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(statement)
    conn.close()


def test_a_target_is_created_counted_and_dropped(name: str) -> None:
    assert not target.exists(PARAMS, name)
    assert target.create(PARAMS, name) is True
    assert target.exists(PARAMS, name)
    assert target.create(PARAMS, name) is False  # already there: someone else's
    assert target.user_objects(PARAMS, name) == 0
    execute(name, "SELECT lo_from_bytea(0, 'x')")
    assert target.user_objects(PARAMS, name) == 1
    execute(name, "CREATE SCHEMA s; CREATE TYPE s.t AS ENUM ('a')")
    assert target.user_objects(PARAMS, name) == 3
    target.drop(PARAMS, name)
    assert not target.exists(PARAMS, name)


def test_a_table_with_its_sequence_and_index_counts_as_objects(name: str) -> None:
    target.create(PARAMS, name)
    execute(name, "CREATE TABLE t (id serial PRIMARY KEY)")
    assert target.user_objects(PARAMS, name) >= 3


def test_an_unreachable_server_is_a_clear_restore_error() -> None:
    params = source.SourceParams.from_url("postgresql://postgres:pw@127.0.0.1:1/postgres")
    with pytest.raises(errors.RestoreError, match="refused the connection") as caught:
        target.exists(params, "anything")
    assert "pw" not in caught.value.message.replace("password", "")


def test_pg_restore_refuses_bytes_that_are_not_an_archive() -> None:
    with (
        pytest.raises(errors.RestoreError, match=r"pg_restore failed: .*valid archive"),
        pgrestore.running(PARAMS, pgrestore.LIST) as pg,
    ):
        pg.stdin.write(b"definitely not a dump\n" * 1000)


def test_the_listing_may_stop_reading_early(name: str) -> None:
    make_source_database(name, rows=30000)
    dump = subprocess.run(
        ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "-Fc", "-Z0", name],
        capture_output=True,
        check=True,
    ).stdout
    assert len(dump) > 2 * pgrestore.PIPE_SIZE  # more than the pipe holds
    with pgrestore.running(PARAMS, pgrestore.LIST) as pg:
        for start in range(0, len(dump), 65536):
            pg.stdin.write(dump[start : start + 65536])
    assert "TABLE DATA public items" in pg.listing


def test_verification_is_recorded_and_concurrent_restores_are_found(
    database: session.Database,
    add_backup: Callable[..., uuid.UUID],
    make_job: Callable[..., uuid.UUID],
) -> None:
    backup_id = add_backup()
    with database.transaction() as db:
        assert db_restores.record_verification(db, backup_id, ok=False)
        assert not db_restores.record_verification(db, uuid.uuid4(), ok=True)
    mine, other = make_job(type="restore"), make_job(type="restore")
    with database.transaction() as db:
        for job_id in (mine, other):
            db_jobs.claim_job(db, job_id, hostname="h", payload={"target_database": "copy"})
            db_jobs.start_job(db, job_id, hostname="h", max_attempts=3)
        assert db_restores.other_restores_into(db, "copy", mine) == []  # still downloading
        for job_id in (mine, other):
            db_jobs.set_progress(db, job_id, stage="restore", progress=70)
        assert db_restores.other_restores_into(db, "copy", mine) == [other]
        assert db_restores.other_restores_into(db, "elsewhere", mine) == []
        row = db.scalars(
            select(models.Backup.verify_status).where(models.Backup.id == backup_id)
        ).one()
    assert row == "failed"


@pytest.mark.parametrize(
    ("alter", "reason"),
    [("IS_TEMPLATE true", "template database"), ("ALLOW_CONNECTIONS false", "no connections")],
)
def test_a_template_or_closed_database_is_refused(name: str, alter: str, reason: str) -> None:
    target.refuse_unusable(PARAMS, name)  # missing: a new target, fine
    assert target.create(PARAMS, name)
    target.refuse_unusable(PARAMS, name)
    execute("postgres", f'ALTER DATABASE "{name}" {alter}')
    try:
        with pytest.raises(errors.InputError, match=reason):
            target.refuse_unusable(PARAMS, name)
        if "ALLOW" in alter:
            target.refuse_unusable(PARAMS, name, closed_ok=True)  # a replace mid-switch
    finally:
        execute("postgres", f'ALTER DATABASE "{name}" IS_TEMPLATE false ALLOW_CONNECTIONS true')
