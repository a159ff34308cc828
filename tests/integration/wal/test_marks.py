"""Drill marks: rows counted at a WAL position while writers never stop, and a recovery to that
position holding exactly those rows; a role that may not take a mark is told why.

The streamer runs in this process, as in test_pitr, so the test knows when the WAL after the
marks is recorded; the Procfile's `wal` process and the `wal mark` / `wal drill` commands are
in test_shared_server."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import psycopg2
import pytest
import redis

from db import session
from tests.support import scratch, services
from tests.support import wal as support
from worker import errors
from worker.postgres import source
from worker.wal import basebackup, drill, lease, marks, plan, recover, streamer

SERVER = "marksrc"


def _params(cluster: services.PostgresCluster, user: str = "postgres") -> source.SourceParams:
    return source.SourceParams.from_url(
        f"postgresql://{user}@127.0.0.1:{cluster.port}/postgres", server=SERVER
    )


def _write_until(cluster: services.PostgresCluster, stop: threading.Event, lane: int) -> None:
    """Small transactions as fast as they go: inserts into one table, rows moved between two
    (so pending + done stays 100,000 in every consistent state)."""
    connection = psycopg2.connect(cluster.dsn("app"))
    try:
        number = 0
        while not stop.is_set():
            number += 1
            with connection, connection.cursor() as cursor:
                cursor.execute("INSERT INTO log (id) VALUES (%s)", (2 * number + lane,))
                cursor.execute(
                    "WITH moved AS (DELETE FROM pending WHERE id = (SELECT min(id) FROM pending)"
                    " RETURNING id) INSERT INTO done SELECT id FROM moved"
                )
    finally:
        connection.close()


def test_a_recovery_to_a_mark_holds_exactly_the_rows_counted_while_writers_ran(
    cluster: services.PostgresCluster, database: session.Database, work: Path, redis_db: int
) -> None:
    support.execute(cluster, "CREATE DATABASE app")
    support.execute(
        cluster,
        "CREATE TABLE log (id int PRIMARY KEY);"
        "CREATE TABLE pending (id int PRIMARY KEY);"
        "CREATE TABLE done (id int PRIMARY KEY);"
        "INSERT INTO pending SELECT generate_series(1, 100000)",
        "app",
    )
    with support.wal_store(work / "spool") as wal_store:
        config = streamer.Config(
            SERVER, support.conninfo(cluster), work / "wal-spool", flush_seconds=1.0,
            lease_seconds=5.0,
        )  # fmt: skip
        client = redis.Redis.from_url(scratch.redis_url(redis_db))
        stream = streamer.Streamer(config, database, wal_store, lease.Lease(client, SERVER, 5.0))
        streaming = threading.Thread(target=stream.run)
        streaming.start()
        stop = threading.Event()
        writers = [
            threading.Thread(target=_write_until, args=(cluster, stop, lane)) for lane in (0, 1)
        ]
        try:
            basebackup.take(SERVER, support.conninfo(cluster), database, wal_store)
            for writer in writers:
                writer.start()
            time.sleep(0.5)
            taken = []
            for _ in range(3):
                taken.append(marks.take(_params(cluster), "app", lock_timeout=5))
                time.sleep(0.4)
            stop.set()
            for writer in writers:
                writer.join(10)
            for mark in taken:
                marks.record(database, SERVER, "app", mark)
            support.wait_recorded(database, cluster, SERVER)
        finally:
            stop.set()
            stream.stop.set()
            streaming.join(30)

        positions = [mark.position for mark in taken]
        assert positions == sorted(positions)
        counted = [mark.tables for mark in taken]
        # The writers ran through the marks: every mark saw different rows.
        assert counted[0]["public.log"] < counted[1]["public.log"] < counted[2]["public.log"]
        assert all(c["public.pending"] + c["public.done"] == 100000 for c in counted)
        for index, mark in enumerate(taken):
            chosen = recover.make_plan(database, SERVER, plan.Target(position=mark.position))
            outcome = recover.recover(
                chosen,
                wal_store,
                work / f"scratch-{index}",
                user="postgres",
                database="app",
                port=services.free_port(27200),
                run_as="postgres" if os.geteuid() == 0 else None,
                dump=False,
                count_rows=True,
            )
            assert outcome.archive is None
            differ = drill.compare(mark.tables, outcome.tables or {})
            assert outcome.tables == mark.tables, (index, differ)


def test_a_role_that_may_not_lock_the_tables_is_told_what_it_needs(
    cluster: services.PostgresCluster,
) -> None:
    support.execute(cluster, "CREATE DATABASE app")
    support.execute(
        cluster,
        "CREATE TABLE log (id int); CREATE ROLE reader LOGIN PASSWORD 'reader-pw';"
        "GRANT SELECT ON log TO reader",
        "app",
    )
    with pytest.raises(errors.WalError, match="needs a role that may lock its tables"):
        marks.take(_params(cluster, "reader:reader-pw"), "app", lock_timeout=2)
