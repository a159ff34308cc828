"""Which marks a drill to a point may choose, and how it compares counts."""

from __future__ import annotations

import datetime as dt
import uuid

from db import wal_models
from worker.wal import drill

NOW = dt.datetime(2026, 12, 6, 12, tzinfo=dt.UTC)


def _mark(position: int, system: str = "s1") -> wal_models.WalMark:
    return wal_models.WalMark(
        id=uuid.uuid4(),
        server="a",
        system_identifier=system,
        database="app",
        position=position,
        taken_at=NOW,
        tables={},
    )


def _base(stop: int, system: str = "s1") -> wal_models.BaseBackup:
    return wal_models.BaseBackup(system_identifier=system, start_lsn=stop - 10, stop_lsn=stop)


def test_only_marks_between_a_base_backups_end_and_the_recorded_wals_end_are_reachable() -> None:
    marks = [_mark(50), _mark(100), _mark(150), _mark(200), _mark(120, system="old")]
    reachable = drill.reachable(marks, [_base(100), _base(300, "old")], "s1", 200)
    assert [m.position for m in reachable] == [100, 150]  # 200: no record after it yet
    assert drill.reachable(marks, [_base(100)], "s1", None) == []


def test_every_table_of_either_side_is_compared_and_named() -> None:
    found = drill.compare({"a": 3, "b": 5, "gone": 1}, {"a": 3, "b": 6, "new": 2})
    assert [(t["table"], t["ok"]) for t in found] == [
        ("a", True),
        ("b", False),
        ("gone", False),
        ("new", False),
    ]
    assert found[1] == {"table": "b", "recorded": 5, "recovered": 6, "ok": False}
