"""Base backups on a schedule (worker.wal.schedule): two Procfile `wal` processes for one
server, WAL_BASEBACKUP_HOURS short; the lease holder alone takes them, one per interval, and
each passes pg_verifybackup."""

from __future__ import annotations

import itertools
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from db import session, wal_models
from db.queries import wal as db_wal
from tests.support import scratch, services, workers
from tests.support import wal as support
from worker.wal import basebackup

SERVER = "scheduled"
HOURS = 0.0025  # 9 s between two base backups: the test's pace (24 h by default)


def _base_backups(database: session.Database) -> list[wal_models.BaseBackup]:
    with database.transaction() as s:
        rows = list(db_wal.base_backups(s, SERVER))
        for row in rows:
            s.expunge(row)
    return rows


@pytest.mark.timeout(300)
def test_the_lease_holder_takes_a_base_backup_at_once_and_then_one_per_interval(
    cluster: services.PostgresCluster,
    database: session.Database,
    control_db_url: str,
    redis_db: int,
) -> None:
    root = Path(tempfile.mkdtemp(prefix="bw-wal-schedule-"))
    key = support.new_key(root / "age.key")
    registry = support.servers_file(root / "servers.toml", {SERVER: support.conninfo(cluster)})
    processes: list[workers.Process] = []
    with support.standin() as standin:
        try:
            for name in ("a", "b"):
                env = support.streamer_env(
                    control_url=control_db_url,
                    redis_url=scratch.redis_url(redis_db),
                    standin_url=standin.url,
                    key_file=key,
                    registry=registry,
                    spool=root / name / "spool",
                    WAL_SERVERS=SERVER,
                    WAL_FLUSH_SECONDS="1",
                    WAL_LEASE_SECONDS="3",
                    WAL_BASEBACKUP_HOURS=str(HOURS),
                )
                processes.append(support.start_streamer(env, root / "logs" / name))
            deadline = time.monotonic() + 120
            while len(_base_backups(database)) < 3 and time.monotonic() < deadline:
                time.sleep(0.5)
        finally:
            for process in processes:
                process.stop(30)
            logs = ["".join(process.log()) for process in processes]
        rows = _base_backups(database)
        assert len(rows) >= 3, logs
        # One host takes them (the lease holder), and only once the newest is an interval old.
        takers = [log.count("scheduled base backup taken") for log in logs]
        assert sorted(takers)[0] == 0, takers
        for earlier, later in itertools.pairwise(rows):
            gap = (later.started_at - earlier.stopped_at).total_seconds()
            assert gap >= HOURS * 3600 - 1, gap
        assert "Traceback" not in "".join(logs)
        # The newest is whole: unpacked from Telegram and checked with pg_verifybackup.
        store = support.store_at(standin.url, root / "parts", key)
        data_dir = root / "unpacked"
        basebackup.unpacked(rows[-1], store, data_dir, root)
    shutil.rmtree(root, ignore_errors=True)
