"""Commit timestamps of a bundle that starts in the padding after a WAL switch.

pg_backup_stop (every base backup) and archive_timeout end a segment early; the rest of it is
padding with no record. A bundle cut there once made pg_waldump fail ("could not find a valid
record after"), and the streamer retried the same bundle forever.
"""

from __future__ import annotations

import datetime as dt

from tests.support import services
from tests.support import wal as support
from worker.wal import bundles, lsn, receiver


def _position(cluster: services.PostgresCluster, sql: str) -> int:
    return lsn.parse(str(support.execute(cluster, sql)))


def test_a_range_from_the_padding_after_a_switch_reads_on_at_the_next_segment(
    cluster: services.PostgresCluster,
) -> None:
    support.execute(cluster, "CREATE TABLE log (id int)")
    switched = _position(cluster, "SELECT pg_switch_wal()::text")
    support.execute(cluster, "INSERT INTO log VALUES (1)")
    committed = support.execute(cluster, "SELECT clock_timestamp()")
    assert isinstance(committed, dt.datetime)
    end = _position(cluster, "SELECT pg_current_wal_flush_lsn()::text")
    connection = receiver.connect(support.conninfo(cluster))
    try:
        identity = receiver.identify(connection)
    finally:
        connection.close()
    size = identity.segment_size
    padding = switched + 8 * 8192  # inside the switched segment's padding
    assert lsn.segment_number(padding, size) == lsn.segment_number(switched, size)

    first, last = bundles.commit_times(cluster.data / "pg_wal", identity, padding, end)
    assert first is not None
    assert last is not None
    assert abs((last - committed).total_seconds()) < 1
    segment_end = (lsn.segment_number(padding, size) + 1) * size
    assert bundles.commit_times(cluster.data / "pg_wal", identity, padding, segment_end) == (
        None,
        None,
    )
