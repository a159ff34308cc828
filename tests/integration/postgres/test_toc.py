"""Each table's data size, read from a real archive's table of contents (pg_restore's measure)."""

from __future__ import annotations

import contextlib
import io
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from tests.support import sources
from worker.postgres import toc

SERVER = "host=127.0.0.1 port=5432 user=postgres dbname={}"
ROWS = {"public.small": 10, "public.big": 20_000, "other.mid": 3_000}
BLOCK = 5  # bytes before each COPY row in an uncompressed archive: its length (WriteInt)


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    name = f"bw_toc_{uuid.uuid4().hex[:8]}"
    sources.admin_execute(f'CREATE DATABASE "{name}"')
    with contextlib.closing(psycopg2.connect(SERVER.format(name))) as conn, conn.cursor() as cur:
        cur.execute("CREATE SCHEMA other")
        for table, rows in ROWS.items():
            cur.execute(
                f"CREATE TABLE {table} AS SELECT g AS id, md5(g::text) AS label "
                "FROM generate_series(1, %s) AS g",
                (rows,),
            )
        cur.execute("SELECT lo_from_bytea(0, 'large object data'::bytea)")
        conn.commit()
    yield name
    sources.drop_database(name)


def copy_text(database: str, table: str) -> int:
    conn = psycopg2.connect(SERVER.format(database))
    with contextlib.closing(conn), conn.cursor() as cur:
        out = io.BytesIO()
        cur.copy_expert(f"COPY {table} TO STDOUT", out)
        return len(out.getvalue())


def dump(database: str, path: Path, *, seekable: bool) -> Path:
    command = ["pg_dump", "--format=custom", "--compress=0", f"--dbname={database}"]
    command += ["--host=127.0.0.1", "--username=postgres"]
    if seekable:
        subprocess.run([*command, f"--file={path}"], check=True)
    else:  # into a pipe, as the worker dumps: no data positions (a file would be seekable)
        path.write_bytes(subprocess.run(command, stdout=subprocess.PIPE, check=True).stdout)
    return path


def test_a_tables_size_is_its_copy_text_and_a_header_a_row(database: str, tmp_path: Path) -> None:
    tables = toc.tables(dump(database, tmp_path / "a.pgdump", seekable=True))
    assert sorted(table.name for table in tables) == sorted(ROWS)
    for table in tables:
        expected = copy_text(database, table.name) + BLOCK * ROWS[table.name]
        # and the block's header, the zero-length block that ends it, "\.": a few bytes more
        assert expected <= table.size <= expected + 64, table


def test_without_data_positions_the_data_is_shared_evenly(database: str, tmp_path: Path) -> None:
    path = dump(database, tmp_path / "piped.pgdump", seekable=False)
    tables = toc.tables(path)
    assert len({table.size for table in tables}) == 1
    assert sum(table.size for table in tables) <= path.stat().st_size


def test_a_file_that_is_no_archive_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "not.pgdump"
    path.write_bytes(b"PGDMX" + bytes(100))
    with pytest.raises(toc.Unsupported):
        toc.tables(path)
    path.write_bytes(b"PGDMP")
    with pytest.raises(EOFError):
        toc.tables(path)
