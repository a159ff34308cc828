"""Data offsets written into archives that pg_dump wrote into a pipe, checked against pg_dump's own
and against pg_restore --jobs."""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg2
import pytest

from tests.support import sources
from worker.postgres import offsets

SERVER = "host=127.0.0.1 port=5432 user=postgres dbname={}"
HEADER = 64  # bytes: the archive's header (its creation time differs between two dumps)


def make(name: str, *, large_object: bool) -> None:
    sources.admin_execute(f'CREATE DATABASE "{name}"')
    with contextlib.closing(psycopg2.connect(SERVER.format(name))) as conn, conn.cursor() as cur:
        cur.execute(
            """
            CREATE TABLE items (id serial PRIMARY KEY, label text);
            INSERT INTO items (label) SELECT 'item ' || i FROM generate_series(1, 30000) i;
            CREATE TABLE nothing (id int);
            -- COPY rows of exactly 65,536 bytes: block lengths whose low bytes are zero
            CREATE TABLE wide (id int, body text);
            INSERT INTO wide SELECT i, repeat('w', 65533) FROM generate_series(1, 3) i;
            CREATE TABLE after_wide (k text);
            INSERT INTO after_wide VALUES ('last');
            """
        )
        if large_object:
            cur.execute("SELECT lo_from_bytea(0, '\\x00000000000100ff'::bytea || 'blob')")
        conn.commit()


@pytest.fixture(scope="module", params=[False, True], ids=["tables", "with-large-object"])
def database(request: pytest.FixtureRequest) -> Iterator[tuple[str, bool]]:
    name = f"bw_offsets_{uuid.uuid4().hex[:8]}"
    make(name, large_object=request.param)
    try:
        yield name, request.param
    finally:
        sources.drop_database(name)


def pg_dump(name: str, *extra: str) -> bytes:
    argv = ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "--format=custom", *extra, name]
    return subprocess.run(argv, capture_output=True, check=True).stdout


def scanned(archive: bytes, path: Path, write_size: int) -> int:
    """`archive` written through a Scanner into `path`, `write_size` bytes at a time; applied."""
    with path.open("wb") as file:
        scanner = offsets.Scanner(file)
        for start in range(0, len(archive), write_size):
            scanner.write(archive[start : start + write_size])
        file.flush()
        return scanner.apply(file.fileno())


def table_rows(name: str) -> dict[str, int]:
    with contextlib.closing(psycopg2.connect(SERVER.format(name))) as conn, conn.cursor() as cur:
        counts = {}
        for table in ("items", "nothing", "wide", "after_wide"):
            cur.execute(f"SELECT count(*) FROM {table}")
            row = cur.fetchone()
            assert row is not None
            counts[table] = int(row[0])
        cur.execute("SELECT count(*) FROM pg_largeobject_metadata")
        row = cur.fetchone()
        assert row is not None
        counts["large objects"] = int(row[0])
        return counts


@pytest.mark.parametrize("write_size", [1000, 1 << 20])
def test_the_offsets_are_the_ones_pg_dump_writes_into_a_file(
    database: tuple[str, bool], tmp_path: Path, write_size: int
) -> None:
    name, large_object = database
    piped = pg_dump(name, "--compress=0")
    seekable = tmp_path / "seekable.pgdump"
    pg_dump(name, "--compress=0", f"--file={seekable}")
    found = scanned(piped, tmp_path / "piped.pgdump", write_size)
    assert found == 4  # items, nothing, wide, after_wide: the large object's data keeps "not set"
    patched, reference = (tmp_path / "piped.pgdump").read_bytes(), seekable.read_bytes()
    assert len(patched) == len(reference) == len(piped)
    differ = [i for i, (a, b) in enumerate(zip(patched, reference, strict=True)) if a != b]
    beyond_header = [i for i in differ if i >= HEADER]
    if large_object:  # pg_dump also set the blobs entry's offset: one slot, flag and bytes
        assert beyond_header
        assert max(beyond_header) - min(beyond_header) < 9
    else:
        assert beyond_header == []
    unpatched = [i for i, (a, b) in enumerate(zip(piped, reference, strict=True)) if a != b]
    assert len([i for i in unpatched if i >= HEADER]) > 4 * 2  # the flags and offsets were unset


def test_pg_restore_jobs_restores_the_patched_archive_whole(
    database: tuple[str, bool], tmp_path: Path
) -> None:
    name, large_object = database
    archive = tmp_path / "piped.pgdump"
    assert scanned(pg_dump(name, "--compress=0"), archive, 1 << 16) == 4
    copy = f"bw_offsets_copy_{uuid.uuid4().hex[:8]}"
    sources.admin_execute(f'CREATE DATABASE "{copy}"')
    try:
        subprocess.run(
            [
                *("pg_restore", "-h", "127.0.0.1", "-U", "postgres", "--exit-on-error"),
                *("--jobs=2", f"--dbname={copy}", str(archive)),
            ],
            capture_output=True,
            check=True,
        )
        assert table_rows(copy) == table_rows(name)
        assert table_rows(copy)["large objects"] == (1 if large_object else 0)
    finally:
        sources.drop_database(copy)


def cut_in_half(name: str) -> bytes:
    whole = pg_dump(name, "--compress=0")
    return whole[: len(whole) // 2]


UNTOUCHED: dict[str, Callable[[str], bytes]] = {
    "compressed": lambda name: pg_dump(name, "--compress=1"),
    "cut-in-half": cut_in_half,
    "last-bytes-missing": lambda name: pg_dump(name, "--compress=0")[:-3],
    "table-of-contents-only": lambda name: pg_dump(name, "--compress=0", "--schema-only"),
    "garbage": lambda _name: b"PGDMP" + bytes(200),
    "empty": lambda _name: b"",
}


@pytest.mark.parametrize("kind", sorted(UNTOUCHED))
@pytest.mark.parametrize("database", [False], indirect=True, ids=["tables"])
def test_an_archive_it_cannot_vouch_for_is_left_exactly_as_it_came(
    database: tuple[str, bool], tmp_path: Path, kind: str
) -> None:
    # Tables only: with a large object last, the end of its data is not looked at.
    data = UNTOUCHED[kind](database[0])
    path = tmp_path / "archive.pgdump"
    assert scanned(data, path, 4096) == 0
    assert path.read_bytes() == data
