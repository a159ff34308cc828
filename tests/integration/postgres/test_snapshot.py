"""Row counts in the dump's snapshot, when they begin, and when a database has too many tables to
count them."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from tests.support import sources
from worker import errors
from worker.artifact import growing
from worker.artifact import stream as artifact
from worker.backup import dump as backup_dump
from worker.postgres import snapshot, source

PARAMS = source.SourceParams.from_url(sources.SOURCE_URL)


def room() -> int:
    """The shared server's lock table: max_locks_per_transaction x (connections + prepared)."""
    return int(sources.setting("max_locks_per_transaction")) * (
        int(sources.setting("max_connections")) + int(sources.setting("max_prepared_transactions"))
    )


def test_a_database_of_a_few_tables_is_counted_in_the_exported_snapshot() -> None:
    name = f"bw_snap_{uuid.uuid4().hex[:8]}"
    sources.make_many_tables(name, 3)
    try:
        with snapshot.exported(PARAMS, name, count_rows=True, lock_timeout=5) as export:
            found = export.contents()
            assert export.snapshot is not None
            assert found.tables is not None
            assert len(found.tables) == 3
            assert set(found.tables.values()) == {1}
    finally:
        sources.drop_database(name)


def test_too_many_tables_for_the_lock_table_are_not_counted_and_a_drill_still_counts_them() -> None:
    # Twice the tables' locks above a quarter of the server's room: counting would crowd it.
    tables = int(room() * snapshot.LOCK_SHARE / 2) + 10
    name = f"bw_snap_{uuid.uuid4().hex[:8]}"
    sources.make_many_tables(name, tables)
    try:
        with snapshot.exported(PARAMS, name, count_rows=True, lock_timeout=5) as export:
            assert export.snapshot is None
            assert export.contents().tables is None
        # A drill's count of its scratch database: one table per transaction, any number.
        assert len(snapshot.table_counts(PARAMS, name)) == tables
    finally:
        sources.drop_database(name)


@contextlib.contextmanager
def locked_table(name: str) -> Iterator[psycopg2.extensions.connection]:
    """t1 of database `name` held ACCESS EXCLUSIVE by another session until the block ends (or
    the returned session commits)."""
    conn = sources.connect(name)
    try:
        with conn.cursor() as cur:
            cur.execute("LOCK TABLE t1 IN ACCESS EXCLUSIVE MODE")
        yield conn
    finally:
        conn.close()


def waiting_for_t1(name: str, *, within: float = 10.0) -> bool:
    """Whether a session comes to wait for t1's lock in `name` within `within` seconds."""
    deadline = time.monotonic() + within
    statement = "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 't1'::regclass"
    while time.monotonic() < deadline:
        if sources.query(name, statement) == [(1,)]:
            return True
        time.sleep(0.05)
    return False


def test_the_snapshot_is_there_before_its_rows_are_counted() -> None:
    # The block (pg_dump, in a backup) starts while counting still waits for a table's lock.
    name = f"bw_snap_{uuid.uuid4().hex[:8]}"
    sources.make_many_tables(name, 3)
    try:
        with (
            locked_table(name) as holder,
            snapshot.exported(PARAMS, name, count_rows=True, lock_timeout=30) as export,
        ):
            assert export.snapshot is not None
            assert waiting_for_t1(name)  # the count of t1, beside the block
            holder.commit()  # the lock goes: the count goes on
            found = export.contents()
        assert found.tables == {"public.t1": 1, "public.t2": 1, "public.t3": 1}
    finally:
        sources.drop_database(name)


def test_a_count_that_fails_fails_the_contents_and_one_left_behind_is_cancelled() -> None:
    name = f"bw_snap_{uuid.uuid4().hex[:8]}"
    sources.make_many_tables(name, 3)
    try:
        with locked_table(name):
            with (
                snapshot.exported(PARAMS, name, count_rows=True, lock_timeout=0.2) as export,
                pytest.raises(errors.DumpError, match="could not lock a table"),
            ):
                export.contents()
            started = time.monotonic()
            with (
                pytest.raises(RuntimeError, match="pg_dump failed"),
                snapshot.exported(PARAMS, name, count_rows=True, lock_timeout=60),
            ):
                raise RuntimeError("pg_dump failed")
            # Not the lock timeout's 60 s: the count waiting for t1 was cancelled.
            assert time.monotonic() - started < 10
    finally:
        sources.drop_database(name)


def test_a_held_count_begins_when_told_or_when_the_block_ends() -> None:
    name = f"bw_snap_{uuid.uuid4().hex[:8]}"
    sources.make_many_tables(name, 3)
    try:
        with (
            locked_table(name) as holder,
            snapshot.exported(PARAMS, name, count_rows=True, lock_timeout=30, held=True) as export,
        ):
            assert export.snapshot is not None
            assert not waiting_for_t1(name, within=1.0)  # held: no count yet
            export.begin_counting()
            assert waiting_for_t1(name)
            holder.commit()
            assert export.contents().tables == {"public.t1": 1, "public.t2": 1, "public.t3": 1}
        # Never told: the block's end counts all the same.
        with snapshot.exported(PARAMS, name, count_rows=True, lock_timeout=30, held=True) as export:
            assert export.contents().tables == {"public.t1": 1, "public.t2": 1, "public.t3": 1}
    finally:
        sources.drop_database(name)


def test_a_dump_streaming_its_first_part_counts_rows_only_once_that_part_is_complete(
    tmp_path: Path,
) -> None:
    name = f"bw_snap_{uuid.uuid4().hex[:8]}"
    sources.make_many_tables(name, 2)
    sources.query(name, "INSERT INTO t2 SELECT i, md5(i::text) FROM generate_series(2, 20000) i")
    part = 64 * 1024
    waited_before: list[bool] = []
    waited_after: list[bool] = []
    try:
        with locked_table(name) as holder:

            def on_bytes(_raw: int, _written: int) -> None:
                if not waited_before:  # pg_dump's first output, before any part is complete
                    waited_before.append(waiting_for_t1(name, within=1.0))

            def on_part(_part: artifact.PartFile) -> None:
                if not waited_after:
                    waited_after.append(waiting_for_t1(name))
                    holder.commit()  # the count may go on

            made, contents = backup_dump.counted_dump(
                PARAMS,
                name,
                tmp_path,
                "t.pgdump",
                count_rows=True,
                part_size=part,
                first_part_size=part // 2,
                first_watch=growing.Growing(tmp_path / "t.pgdump.001", part // 2),
                compression="none",
                on_bytes=on_bytes,
                on_part=on_part,
                lock_wait_timeout=30,
                extra_args=["--exclude-table=t1"],  # pg_dump leaves t1 alone; the count does not
            )
        assert waited_before == [False]
        assert waited_after == [True]
        assert len(made.parts) > 2
        assert contents.tables == {"public.t1": 1, "public.t2": 20000}
    finally:
        sources.drop_database(name)
