"""pg_dump on a busy server, against the real PostgreSQL 15 at 127.0.0.1:5432.

A table locked ACCESS EXCLUSIVE makes the dump fail within the lock timeout with a message that
says so; the dump session names its job and runs without a statement_timeout; the client is
chosen by the server's version.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from tests.support import sources
from worker import errors
from worker.backup import dump as backup_dump
from worker.postgres import clients, dump, source

SERVER = "postgresql://postgres@127.0.0.1:5432/{}"


@pytest.fixture(scope="module")
def busy_db() -> Iterator[str]:
    name = f"bw_busy_{uuid.uuid4().hex[:8]}"
    sources.admin_execute(f'CREATE DATABASE "{name}"')
    try:
        with contextlib.closing(psycopg2.connect(SERVER.format(name))) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("CREATE TABLE accounts (id int PRIMARY KEY, note text)")
                cur.execute(
                    "INSERT INTO accounts SELECT i, md5(i::text) FROM generate_series(1, 100) i"
                )
        yield name
    finally:
        sources.drop_database(name)


@contextlib.contextmanager
def locked(database: str, table: str) -> Iterator[None]:
    """Another session holding ACCESS EXCLUSIVE on `table`, as ALTER TABLE or a migration would."""
    with contextlib.closing(psycopg2.connect(SERVER.format(database))) as conn:
        with conn.cursor() as cur:
            cur.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            conn.rollback()


def test_a_locked_table_fails_the_dump_within_the_lock_timeout(
    params: source.SourceParams, busy_db: str, tmp_path: Path
) -> None:
    with locked(busy_db, "accounts"):
        started = time.monotonic()
        with pytest.raises(errors.DumpError) as caught:
            backup_dump.dump_database(
                params, busy_db, tmp_path, "busy", part_size=64 * 1024, lock_wait_timeout=1.5
            )
        elapsed = time.monotonic() - started
    message = caught.value.message
    assert "could not lock table public.accounts within 1.5 s" in message
    assert "ACCESS EXCLUSIVE" in message
    assert "SOURCE_LOCK_WAIT_TIMEOUT" in message
    assert 1.4 <= elapsed < 10
    assert list(tmp_path.iterdir()) == []  # no part of a failed dump stays behind


def test_without_the_lock_the_same_dump_succeeds(
    params: source.SourceParams, busy_db: str, tmp_path: Path
) -> None:
    result = backup_dump.dump_database(
        params, busy_db, tmp_path, "calm", part_size=64 * 1024, lock_wait_timeout=1.5
    )
    assert result.size_bytes > 0


def test_the_dump_session_names_its_job(params: source.SourceParams, busy_db: str) -> None:
    job_id = uuid.UUID("1234abcd-0000-4000-8000-000000000000")
    name = dump.application_name(job_id)
    assert name == "backup-worker:1234abcd"
    seen: list[tuple[str, str]] = []

    def watch() -> None:
        # While pg_dump waits for the lock, its session is visible by the job's name.
        with contextlib.closing(psycopg2.connect(SERVER.format("postgres"))) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                for _ in range(200):
                    cur.execute(
                        "SELECT datname, wait_event_type FROM pg_stat_activity"
                        " WHERE application_name = %s AND wait_event_type = 'Lock'",
                        (name,),
                    )
                    seen.extend(cur.fetchall())
                    if seen:
                        return
                    time.sleep(0.02)

    with locked(busy_db, "accounts"):
        watcher = threading.Thread(target=watch)
        watcher.start()
        with (
            pytest.raises(errors.DumpError),
            dump.pg_dump_stream(
                params, busy_db, lock_wait_timeout=3, application_name=name
            ) as stream,
        ):
            stream.read()
        watcher.join(timeout=10)
    assert (busy_db, "Lock") in seen


def test_session_options_and_arguments_reach_pg_dump(
    params: source.SourceParams, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = tmp_path / "seen.json"
    fake = tmp_path / "pg_dump"
    fake.write_text(
        "#!/usr/bin/env python3\n"
        "import json, os, sys\n"
        f"json.dump({{'argv': sys.argv[1:], 'env': dict(os.environ)}}, open({str(seen)!r}, 'w'))\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PGOPTIONS", "-c work_mem=64MB")
    with dump.pg_dump_stream(
        params, "app", program=str(fake), lock_wait_timeout=60, application_name="backup-worker:x"
    ) as stream:
        assert stream.read() == b""
    record = json.loads(seen.read_text())
    assert "--lock-wait-timeout=60000" in record["argv"]
    assert record["env"]["PGAPPNAME"] == "backup-worker:x"
    assert record["env"]["PGOPTIONS"] == "-c work_mem=64MB -c statement_timeout=0"
    with dump.pg_dump_stream(params, "app", program=str(fake), lock_wait_timeout=None) as stream:
        stream.read()
    record = json.loads(seen.read_text())
    assert not any(arg.startswith("--lock-wait-timeout") for arg in record["argv"])
    assert record["env"]["PGAPPNAME"] == dump.APPLICATION_NAME


def test_the_installed_client_fits_the_server(params: source.SourceParams) -> None:
    version = source.server_version_num(params)
    assert clients.server_major(version) == (15,)
    client = clients.for_server("pg_dump", params)
    assert client.major == (15,)
    assert client.path == "/usr/lib/postgresql/15/bin/pg_dump"
    assert clients.for_server("pg_restore", params).major == (15,)


def test_only_an_older_client_names_both_versions(
    params: source.SourceParams, tmp_path: Path
) -> None:
    old = tmp_path / "lib" / "13" / "bin"
    old.mkdir(parents=True)
    (old / "pg_dump").write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 13.4'\n")
    (old / "pg_dump").chmod(0o755)
    version = source.server_version_num(params)
    with pytest.raises(errors.DumpError) as caught:
        clients.choose(
            "pg_dump", version, root=tmp_path / "lib", fallback=str(tmp_path / "no-pg_dump")
        )
    message = caught.value.message
    assert "pg_dump 13.4" in message
    assert "older than the server (PostgreSQL 15)" in message
