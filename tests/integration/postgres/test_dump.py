"""pg_dump into artifact parts against the real PostgreSQL at 127.0.0.1:5432."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pyrage
import pytest

from tests.support import sources
from worker import errors
from worker.artifact import stream as artifact
from worker.backup import dump as backup_dump
from worker.postgres import dump, source

SERVER = "postgresql://postgres@127.0.0.1:5432/{}"
PART = 64 * 1024
ZSTD = "/usr/bin/zstd"


@pytest.fixture(scope="module")
def scratch_db() -> Iterator[str]:
    """A throw-away database with a few tables and a few MB of rows."""
    name = f"bw_dumptest_{uuid.uuid4().hex[:8]}"
    sources.admin_execute(f'CREATE DATABASE "{name}"')
    try:
        with contextlib.closing(psycopg2.connect(SERVER.format(name))) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(
                    """
                    CREATE TABLE customers (id serial PRIMARY KEY, name text, note text);
                    INSERT INTO customers (name, note)
                      SELECT 'customer ' || i, md5(i::text) FROM generate_series(1, 20000) i;
                    CREATE TABLE orders (id bigserial PRIMARY KEY,
                      customer_id int REFERENCES customers, amount numeric, at timestamptz);
                    INSERT INTO orders (customer_id, amount, at)
                      SELECT 1 + i % 20000, i * 1.5, now() - i * interval '1 minute'
                      FROM generate_series(1, 60000) i;
                    CREATE TABLE "Odd Name" (k text);
                    INSERT INTO "Odd Name" VALUES ('PLAINTEXT-MARKER-77');
                    """
                )
        yield name
    finally:
        sources.drop_database(name)


def joined(result: artifact.Artifact, spool: Path) -> bytes:
    """The artifact as `cat <filename>.*` would join it."""
    return b"".join(path.read_bytes() for path in sorted(spool.glob(f"{result.filename}.*")))


def restore_list(compressed: bytes, tmp_path: Path) -> str:
    """`zstd -d | pg_restore -l`: the table of contents of a compressed dump."""
    plain = tmp_path / "restore.pgdump"
    with plain.open("wb") as out:
        subprocess.run([ZSTD, "-d", "-c", "-q"], input=compressed, stdout=out, check=True)
    done = subprocess.run(["pg_restore", "-l", str(plain)], capture_output=True, check=True)
    return done.stdout.decode()


def pg_dump_children() -> list[int]:
    """pg_dump processes (zombies included) whose parent is this test process."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                comm, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat.rsplit(")", 1)[1]
                if comm == "pg_dump" and int(rest.split()[1]) == os.getpid():
                    found.append(int(entry.name))
    return found


def test_dump_joins_and_restores_with_standard_tools(
    params: source.SourceParams, scratch_db: str, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    progress: list[tuple[int, int]] = []
    result = backup_dump.dump_database(
        params,
        scratch_db,
        spool,
        f"{scratch_db}.pgdump.zst",
        part_size=PART,
        on_bytes=lambda raw, written: progress.append((raw, written)),
    )
    blob = joined(result, spool)
    assert len(result.parts) > 1
    assert hashlib.sha256(blob).hexdigest() == result.sha256
    assert len(blob) == result.size_bytes < result.raw_bytes
    assert progress[-1] == (result.raw_bytes, result.size_bytes)
    listing = restore_list(blob, tmp_path)
    for entry in ("TABLE public customers", "TABLE public orders", "TABLE public Odd Name"):
        assert entry in listing
    assert "TABLE DATA public orders" in listing
    estimate = source.estimate_dump_size(params, scratch_db)
    assert estimate is not None
    assert estimate > 1_000_000


def test_encrypted_dump_decrypts_and_restores(
    params: source.SourceParams, scratch_db: str, tmp_path: Path
) -> None:
    identity = pyrage.x25519.Identity.generate()
    spool = tmp_path / "spool"
    result = backup_dump.dump_database(
        params,
        scratch_db,
        spool,
        "enc.pgdump.zst.age",
        part_size=PART,
        zstd_threads=2,
        recipients=[str(identity.to_public())],
    )
    blob = joined(result, spool)
    assert b"PLAINTEXT-MARKER-77" not in blob
    assert "TABLE DATA public customers" in restore_list(pyrage.decrypt(blob, [identity]), tmp_path)


def test_missing_database_names_it_and_leaves_nothing(
    params: source.SourceParams, tmp_path: Path
) -> None:
    name = f"bw_missing_{uuid.uuid4().hex[:8]}"
    assert not source.database_exists(params, name)
    assert source.estimate_dump_size(params, name) is None
    with pytest.raises(errors.DumpError) as info:
        backup_dump.dump_database(params, name, tmp_path, "missing.pgdump.zst", part_size=PART)
    assert (
        info.value.message
        == f'pg_dump failed: database "{name}" does not exist on server default (127.0.0.1:5432)'
    )
    assert list(tmp_path.iterdir()) == []


def test_pg_dump_killed_midway_is_a_failure(
    params: source.SourceParams,
    scratch_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = shutil.which("pg_dump")
    assert real is not None
    wrapper = tmp_path / "bin" / "pg_dump"
    wrapper.parent.mkdir()
    # Like an OOM kill: some output, then the process dies by SIGKILL.
    wrapper.write_text(f'#!/bin/sh\n"{real}" "$@" | head -c 300000\nkill -KILL $$\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}")
    spool = tmp_path / "spool"
    with pytest.raises(errors.DumpError, match="pg_dump was killed by SIGKILL"):
        backup_dump.dump_database(params, scratch_db, spool, "killed.pgdump.zst", part_size=PART)
    assert list(spool.iterdir()) == []


def test_failing_body_kills_pg_dump_and_keeps_its_exception(
    params: source.SourceParams, scratch_db: str, tmp_path: Path
) -> None:
    class StopError(Exception):
        pass

    def on_bytes(raw: int, _written: int) -> None:
        if raw > 0:
            raise StopError

    with pytest.raises(StopError):
        backup_dump.dump_database(
            params, scratch_db, tmp_path, "stop.pgdump", part_size=PART, on_bytes=on_bytes
        )
    assert list(tmp_path.iterdir()) == []
    assert pg_dump_children() == []


def test_stopping_early_is_not_a_complete_dump(
    params: source.SourceParams, scratch_db: str
) -> None:
    with (
        pytest.raises(errors.DumpError, match="not read to the end"),
        dump.pg_dump_stream(params, scratch_db) as stream,
    ):
        assert stream.read(5) == b"PGDMP"
    assert pg_dump_children() == []


def test_password_stays_out_of_errors(tmp_path: Path) -> None:
    params = source.SourceParams.from_url("postgresql://postgres:Sw0rdf1sh@127.0.0.1:1/postgres")
    with pytest.raises(errors.DumpError, match="refused the connection") as info:
        backup_dump.dump_database(params, "postgres", tmp_path, "x", part_size=PART)
    assert "Sw0rdf1sh" not in str(info.value)
    with pytest.raises(errors.DumpError) as again:
        source.database_exists(params, "postgres")
    assert "Sw0rdf1sh" not in str(again.value)


def test_missing_pg_dump_says_what_to_install(
    params: source.SourceParams, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(errors.DumpError, match="install postgresql-client"):
        backup_dump.dump_database(params, "postgres", tmp_path / "spool", "x", part_size=PART)
    with pytest.raises(errors.DumpError, match="install postgresql-client"):
        dump.pg_dump_version()


def test_pg_dump_version() -> None:
    assert dump.pg_dump_version().split(".")[0].isdigit()
