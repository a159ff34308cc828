"""Row counts in the dump's snapshot, and when a database has too many tables to count them."""

from __future__ import annotations

import uuid

from tests.support import sources
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
        with snapshot.exported(PARAMS, name, count_rows=True, lock_timeout=5) as (sid, found):
            assert sid is not None
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
        with snapshot.exported(PARAMS, name, count_rows=True, lock_timeout=5) as (sid, found):
            assert sid is None
            assert found.tables is None
        # A drill's count of its scratch database: one table per transaction, any number.
        assert len(snapshot.table_counts(PARAMS, name)) == tables
    finally:
        sources.drop_database(name)
