"""A drill's comparison of recorded and restored row counts, and BACKUP_ROW_COUNTS."""

from __future__ import annotations

import pytest

from worker import errors, settings
from worker.backup import dump
from worker.restore import drill


def test_every_table_of_either_side_is_compared() -> None:
    checks = drill.compare({"public.a": 3, "public.gone": 1}, {"public.a": 3, "public.new": 0})
    assert checks == [
        {"table": "public.a", "recorded": 3, "restored": 3, "ok": True},
        {"table": "public.gone", "recorded": 1, "restored": None, "ok": False},
        {"table": "public.new", "recorded": None, "restored": 0, "ok": False},
    ]


def test_without_recorded_counts_nothing_is_wrong() -> None:
    assert drill.compare(None, {"public.a": 3}) == [
        {"table": "public.a", "recorded": None, "restored": 3, "ok": True}
    ]


def test_the_backups_report_keeps_only_the_mismatches() -> None:
    report = drill.Report(
        server="default",
        database="x__drill_00000000",
        counted=True,
        tables=drill.compare({"public.a": 1, "public.b": 2}, {"public.a": 1, "public.b": 3}),
        mismatches=1,
        extensions={"needed": [], "missing": []},
        error=None,
    )
    kept = drill.trimmed(report)
    assert kept["table_count"] == 2
    assert [t["table"] for t in kept["tables"]] == ["public.b"]


@pytest.mark.parametrize(
    ("value", "limit"), [("on", None), ("off", 0), ("100GB", 10**11), ("500 mb", 5 * 10**8)]
)
def test_row_counts_setting(value: str, limit: int | None) -> None:
    config = settings.Settings(_env_file=None, backup_row_counts=value)
    assert config.row_counts_limit == limit


def test_a_bad_row_counts_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKUP_ROW_COUNTS", "lots")
    with pytest.raises(errors.ConfigError, match="BACKUP_ROW_COUNTS"):
        settings.load()


def test_counting_stops_above_the_threshold() -> None:
    assert dump.should_count(None, 10**15)
    assert not dump.should_count(0, 1)
    assert dump.should_count(100, 100)
    assert not dump.should_count(100, 101)
    assert dump.should_count(100, None)
