"""Two `backup-worker wal stream` processes (the Procfile's `wal`) for one server: SIGKILL the
holder, the other takes over, no gap."""

from __future__ import annotations

import itertools
import shutil
import tempfile
import time
from pathlib import Path

import psycopg2
import redis

from db import session
from db.queries import wal as db_wal
from tests.support import scratch, services, workers
from tests.support import wal as support
from worker.wal import lease, plan

SERVER = "takeover"


def _holder(client: redis.Redis) -> str | None:
    value = client.get(lease.KEY.format(SERVER))
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout} s")


def _write(cluster: services.PostgresCluster, rows: range) -> None:
    connection = psycopg2.connect(cluster.dsn())
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            for number in rows:
                cursor.execute("INSERT INTO log VALUES (%s, repeat('x', 20000))", (number,))
                time.sleep(0.05)
    finally:
        connection.close()


def test_a_killed_streamer_is_replaced_within_the_lease_and_the_wal_has_no_gap(
    cluster: services.PostgresCluster,
    database: session.Database,
    control_db_url: str,
    redis_db: int,
) -> None:
    support.execute(cluster, "CREATE TABLE log (id int PRIMARY KEY, pad text)")
    system = str(
        support.execute(cluster, "SELECT system_identifier::text FROM pg_control_system()")
    )

    def newest_end() -> int:
        with database.transaction() as s:
            ended = db_wal.recorded_end(s, SERVER, system)
        return 0 if ended is None else ended[1]

    root = Path(tempfile.mkdtemp(prefix="bw-wal-takeover-"))
    key = support.new_key(root / "age.key")
    registry = support.servers_file(root / "servers.toml", {SERVER: support.conninfo(cluster)})
    client = redis.Redis.from_url(scratch.redis_url(redis_db))
    processes: list[workers.Process] = []
    with support.standin() as standin:

        def start(name: str) -> workers.Process:
            env = support.streamer_env(
                control_url=control_db_url,
                redis_url=scratch.redis_url(redis_db),
                standin_url=standin.url,
                key_file=key,
                registry=registry,
                spool=root / name / "spool",
                WAL_SERVERS=SERVER,
                # The test's own pace: a bundle a second, a dead streamer replaced within 3 s.
                WAL_FLUSH_SECONDS="1",
                WAL_LEASE_SECONDS="3",
            )
            process = support.start_streamer(env, root / "logs")
            processes.append(process)
            return process

        try:
            first = start("a")
            _wait(lambda: _holder(client) is not None, 10, "the first streamer took no lease")
            second = start("b")
            _write(cluster, range(40))

            def recorded() -> int:
                with database.transaction() as s:
                    return db_wal.bundle_count(s, SERVER)

            _wait(lambda: recorded() >= 1, 15, "the first streamer recorded no bundle")
            before = _holder(client)
            first.kill()  # SIGKILL, pg_receivewal under it too: the host is gone
            killed_at = time.monotonic()
            _write(cluster, range(40, 80))
            _wait(lambda: _holder(client) not in (None, before), 10, "nobody took the lease over")
            taken_after = time.monotonic() - killed_at
            count = recorded()
            _wait(lambda: recorded() > count, 15, "the second streamer recorded no bundle")
            flushed = int(
                str(support.execute(cluster, "SELECT pg_current_wal_flush_lsn() - '0/0'"))
            )
            _wait(
                lambda: newest_end() >= flushed, 15, "the stream did not catch up with the server"
            )
        finally:
            for process in processes:
                process.stop(20)
            logs = "".join(process.log() for process in processes)
            shutil.rmtree(root, ignore_errors=True)
    assert second.proc.returncode == 0, logs[-3000:]
    assert taken_after <= 3.0 + 2.0  # the lease's TTL and a poll or two

    with database.transaction() as s:
        bundles = list(db_wal.bundles_from(s, SERVER, system, 1, 0))
    # The first bundle starts where its segment does: a replay reads a segment's first page.
    assert bundles[0].start_lsn % (16 << 20) == 0
    run = plan.contiguous(bundles, bundles[0].start_lsn)
    assert run == bundles  # each bundle starts where the one before ended: no gap, no overlap
    assert all(a.end_lsn == b.start_lsn for a, b in itertools.pairwise(bundles))
