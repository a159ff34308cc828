"""Each WAL server's recoverable window, lag and gaps, as `status` and the exporter read them."""

from __future__ import annotations

import datetime as dt

from db import session, wal_models
from worker.cli.commands import status
from worker.metrics import collector, snapshot

MB = 1 << 20


def base(server: str, start: int, stop: int, at: dt.datetime) -> wal_models.BaseBackup:
    return wal_models.BaseBackup(
        server=server,
        system_identifier="7",
        timeline=1,
        start_lsn=start,
        stop_lsn=stop,
        started_at=at - dt.timedelta(seconds=5),
        stopped_at=at,
        size_bytes=1,
        sha256="0" * 64,
        compression="zstd",
        parts=[],
    )


def bundle(server: str, start: int, end: int, covered: dt.datetime) -> wal_models.WalBundle:
    return wal_models.WalBundle(
        server=server,
        system_identifier="7",
        timeline=1,
        start_lsn=start,
        end_lsn=end,
        covered_until=covered,
        size_bytes=1,
        sha256="0" * 64,
        compression="zstd",
        parts=[],
    )


def record(database: session.Database) -> dt.datetime:
    """pg-a: a base backup an hour ago, WAL up to 90 s ago, one hole; pg-b: bundles only."""
    now = dt.datetime.now(dt.UTC)
    hour_ago = now - dt.timedelta(hours=1)
    with database.sessionmaker.begin() as s:
        s.add(base("pg-a", 16 * MB, 16 * MB + 100, hour_ago))
        s.add(bundle("pg-a", 16 * MB, 32 * MB, hour_ago + dt.timedelta(minutes=1)))
        s.add(bundle("pg-a", 32 * MB, 48 * MB, now - dt.timedelta(seconds=90)))
        s.add(bundle("pg-a", 64 * MB, 80 * MB, now - dt.timedelta(seconds=30)))  # after a hole
        s.add(bundle("pg-b", 16 * MB, 32 * MB, now))
    return hour_ago


def test_status_and_the_exporter_show_the_window_the_lag_and_the_gaps(
    database: session.Database,
) -> None:
    hour_ago = record(database)
    found = snapshot.read(database, None)
    wal = {row["server"]: row for row in status.report(found)["wal"]}  # type: ignore[attr-defined]
    assert sorted(wal) == ["pg-a", "pg-b"]
    a = wal["pg-a"]
    assert a["from"] == hour_ago.isoformat()
    assert dt.datetime.fromisoformat(a["to"]) < found.now - dt.timedelta(seconds=85)
    assert 85 <= a["lag_seconds"] <= 120
    assert a["gaps"] == 1
    assert wal["pg-b"] == {
        "server": "pg-b",
        "from": None,
        "to": None,
        "lag_seconds": None,
        "gaps": 0,
    }

    samples = {
        (sample.name, sample.labels["server"]): sample.value
        for family in collector.wal_metrics(found)
        for sample in family.samples
    }
    assert 3600 - 120 <= samples["backup_worker_recovery_window_seconds", "pg-a"] <= 3600 - 85
    assert 85 <= samples["backup_worker_wal_lag_seconds", "pg-a"] <= 120
    assert samples["backup_worker_wal_gaps", "pg-a"] == 1
    # Nothing recoverable on pg-b: a zero window, and no lag to speak of.
    assert samples["backup_worker_recovery_window_seconds", "pg-b"] == 0
    assert ("backup_worker_wal_lag_seconds", "pg-b") not in samples
