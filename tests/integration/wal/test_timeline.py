"""A promoted replica: the streamer follows the new timeline, and a restore crosses the switch.

A primary and its streaming replica (pg_basebackup -R); the Procfile's `wal` process streams
the primary; the primary stops, the replica is promoted, the server registry names the replica
(same system identifier), the streamer goes on from it. A restore to a time after the promotion
replays timeline 1, then timeline 2, and holds exactly the rows committed by the target.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psycopg2
import pytest

from db import session
from db.queries import wal as db_wal
from tests.support import procfile, scratch, services, workers
from tests.support import wal as support
from worker.wal import basebackup, plan, receiver, recover

SERVER = "promoted"


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout} s")


def _commit(cluster: services.PostgresCluster, numbers: range) -> dict[int, dt.datetime]:
    """One transaction per row; each row's time read after its COMMIT returned."""
    connection = psycopg2.connect(cluster.dsn("app"))
    times = {}
    try:
        for number in numbers:
            with connection, connection.cursor() as cursor:
                cursor.execute("INSERT INTO log (id) VALUES (%s)", (number,))
            with connection, connection.cursor() as cursor:
                cursor.execute("SELECT clock_timestamp()")
                row = cursor.fetchone()
                assert row is not None
                times[number] = row[0]
            time.sleep(0.3)
    finally:
        connection.close()
    return times


def _flushed(cluster: services.PostgresCluster) -> int:
    return int(str(support.execute(cluster, "SELECT pg_current_wal_flush_lsn() - '0/0'")))


# Two clusters, a base backup, a promotion and a recovery: about 110 s on 2 cores.
@pytest.mark.timeout(360)
def test_the_stream_follows_a_promoted_replica_and_a_restore_crosses_the_switch(
    database: session.Database, control_db_url: str, redis_db: int, work: Path
) -> None:
    with (
        support.source_cluster() as primary,
        support.standin() as standin,
    ):
        support.execute(primary, "CREATE DATABASE app")
        support.execute(
            primary,
            "CREATE TABLE log (id int PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())",
            "app",
        )
        key = support.new_key(work / "age.key")
        wal_store = support.store_at(standin.url, work / "parts", key)
        registry = work / "servers.toml"

        def stream(source: services.PostgresCluster, name: str) -> workers.Process:
            support.servers_file(registry, {SERVER: support.conninfo(source)})
            env = support.streamer_env(
                control_url=control_db_url,
                redis_url=scratch.redis_url(redis_db),
                standin_url=standin.url,
                key_file=key,
                registry=registry,
                spool=work / name,
                WAL_SERVERS=SERVER,
                WAL_FLUSH_SECONDS="1",  # a bundle a second: the test's pace
                WAL_LEASE_SECONDS="3",
                # The test takes its base backup itself, at the moment the timeline needs.
                WAL_BASEBACKUP_HOURS="0",
            )
            return support.start_streamer(env, work / "logs")

        def recorded_to(lsn: int) -> bool:
            with database.transaction() as s:
                ended = db_wal.recorded_end(s, SERVER, system)
            return ended is not None and ended[1] >= lsn

        system = str(
            support.execute(primary, "SELECT system_identifier::text FROM pg_control_system()")
        )
        with support.replica_of(primary) as replica:
            # The operator's step (docs/pitr.md): the slot on each standby that may be promoted,
            # so the new primary keeps the WAL the streamer has not recorded yet.
            support.execute(
                replica,
                f"SELECT pg_create_physical_replication_slot('{receiver.slot_name(SERVER)}', true)",
            )
            first = stream(primary, "a")
            try:
                base = basebackup.take(SERVER, support.conninfo(primary), database, wal_store)
                times = _commit(primary, range(8))
                end_one = _flushed(primary)
                _wait(lambda: recorded_to(end_one), 20, "timeline 1 not recorded")
            finally:
                first.stop(20)
            _wait(
                lambda: (
                    int(str(support.execute(replica, "SELECT pg_last_wal_replay_lsn() - '0/0'")))
                    >= end_one
                ),
                20,
                "the replica did not catch up",
            )
            primary.stop("fast")
            subprocess.run(
                services.as_postgres(
                    [str(services.PG_BIN / "pg_ctl"), "-D", str(replica.data), "-w", "promote"]
                ),
                check=True,
                capture_output=True,
            )
            # Right after the promotion, before its first checkpoint on timeline 2 ends: the
            # streamer must see the timeline WAL is written on, not the checkpoint's.
            connection = receiver.connect(support.conninfo(replica))
            try:
                assert receiver.identify(connection).timeline == 2
            finally:
                connection.close()
            second = stream(replica, "b")
            try:
                times |= _commit(replica, range(8, 16))
                end_two = _flushed(replica)
                _wait(lambda: recorded_to(end_two), 30, "timeline 2 not recorded")
            finally:
                second.stop(20)
            logs = second.log()

        with database.transaction() as s:
            found = list(db_wal.histories(s, SERVER, system))
            bundles = list(db_wal.bundles_of(s, SERVER))
            s.expunge_all()
        assert len(found) == 1, logs[-3000:]
        history = found[0]
        assert (history.timeline, history.parent_timeline) == (2, 1)
        assert history.switch_lsn <= end_two
        assert history.parts  # the file is in Telegram too
        assert {b.timeline for b in bundles} == {1, 2}
        assert max(b.end_lsn for b in bundles if b.timeline == 1) == history.switch_lsn
        assert min(b.start_lsn for b in bundles if b.timeline == 2) == history.switch_lsn

        env = {
            **os.environ,
            "DATABASE_URL": control_db_url,
            "TELEGRAM_BOT_TOKEN": support.TOKEN,
            "TELEGRAM_CHAT_ID": support.CHAT,
            "BACKUP_ENCRYPTION": "off",
        }
        verified = subprocess.run(
            [*procfile.argv("wal")[:-1], "verify", "--server", SERVER, "--json"],
            env=env,
            capture_output=True,
            check=False,
        )
        report = json.loads(verified.stdout)
        assert verified.returncode == 0, verified.stderr.decode()[-2000:]
        assert report["gaps"] == []
        assert report["timelines"] == [1, 2]

        target = times[12] + dt.timedelta(seconds=0.1)  # after the promotion
        chosen = recover.make_plan(database, SERVER, plan.Target(time=target))
        assert ("recovery_target_timeline", "2") in chosen.settings
        assert chosen.base.id == base.id
        _, restored = support.recovered_log(
            chosen, wal_store, work, port_near=27150, prefix="bw_test_tl_"
        )
        assert restored == [n for n, at in sorted(times.items()) if at <= target]
        assert restored == list(range(13))
