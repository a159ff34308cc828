"""WAL streamed from a scratch cluster into the stand-in, then one database back to a time."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import psycopg2
import pytest
import redis

from db import session
from db.queries import wal as db_wal
from tests.support import scratch, services
from tests.support import wal as support
from worker import errors
from worker.wal import basebackup, lease, plan, recover, store, streamer

SERVER = "pitrsrc"


def _commit_rows(cluster: services.PostgresCluster, count: int) -> list[dt.datetime]:
    """One transaction per row; each row's time is read after its COMMIT returned."""
    connection = psycopg2.connect(cluster.dsn("app"))
    times = []
    try:
        for number in range(count):
            with connection, connection.cursor() as cursor:
                cursor.execute("INSERT INTO log (id) VALUES (%s)", (number,))
            with connection, connection.cursor() as cursor:
                cursor.execute("SELECT clock_timestamp()")
                row = cursor.fetchone()
                assert row is not None
                times.append(row[0])
            time.sleep(0.4)
    finally:
        connection.close()
    return times


def _streamer(
    cluster: services.PostgresCluster,
    database: session.Database,
    wal_store: store.Store,
    spool: Path,
    redis_db: int,
) -> streamer.Streamer:
    config = streamer.Config(
        SERVER, support.conninfo(cluster), spool, flush_seconds=1.0, lease_seconds=5.0
    )
    client = redis.Redis.from_url(scratch.redis_url(redis_db))
    return streamer.Streamer(config, database, wal_store, lease.Lease(client, SERVER, 5.0))


def _wait_covered(database: session.Database, until: dt.datetime, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with database.transaction() as s:
            newest = db_wal.newest_covered(s, SERVER)
        if newest is not None and newest >= until:
            return
        time.sleep(0.3)
    raise AssertionError(f"WAL not covered up to {until} within {timeout} s (newest {newest})")


def test_a_database_comes_back_with_exactly_the_rows_committed_by_the_target(
    cluster: services.PostgresCluster, database: session.Database, work: Path, redis_db: int
) -> None:
    support.execute(cluster, "CREATE DATABASE app")
    support.execute(
        cluster,
        "CREATE TABLE log (id int PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())",
        "app",
    )
    with support.wal_store(work / "spool") as wal_store:
        stream = _streamer(cluster, database, wal_store, work / "wal-spool", redis_db)
        thread = threading.Thread(target=stream.run)
        thread.start()
        try:
            base = basebackup.take(SERVER, support.conninfo(cluster), database, wal_store)
            assert base.stop_lsn >= base.start_lsn
            times = _commit_rows(cluster, 8)
            _wait_covered(database, times[-1] + dt.timedelta(seconds=1))
        finally:
            stream.stop.set()
            thread.join(30)
        assert stream.bundles_sent >= 2

        target = times[4] + dt.timedelta(seconds=0.2)
        chosen = recover.make_plan(database, SERVER, plan.Target(time=target))
        assert ("recovery_target_time", target.isoformat()) in chosen.settings
        _, restored = support.recovered_log(
            chosen, wal_store, work, port_near=27100, prefix="bw_test_pitr_"
        )
        assert not (work / "scratch").exists()  # the scratch instance is gone
        assert restored == [0, 1, 2, 3, 4]

        with pytest.raises(errors.OutsideWindow, match=r"is recoverable from .* to "):
            recover.make_plan(database, SERVER, plan.Target(time=times[-1] + dt.timedelta(hours=1)))
        with pytest.raises(errors.OutsideWindow, match="outside the window"):
            recover.make_plan(
                database, SERVER, plan.Target(time=base.started_at - dt.timedelta(minutes=5))
            )
