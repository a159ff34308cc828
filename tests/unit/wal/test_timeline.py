"""Timelines: history files, the path across a switch, gaps per timeline, the plan's settings."""

from __future__ import annotations

import datetime as dt

import pytest

from db import wal_coverage, wal_models
from worker import errors
from worker.wal import plan, timeline

T0 = dt.datetime(2026, 12, 5, 14, 0, tzinfo=dt.UTC)
MB = 1 << 20
SWITCH = 18 * MB + 0x1234  # timeline 1 ends here, inside a segment
HISTORY_3 = "1\t0/1201234\tno recovery target specified\n\n2\t0/1500000\tbefore 2026-12-05\n"


def _bundle(timeline_id: int, start: int, end: int, seconds: int) -> wal_models.WalBundle:
    at = T0 + dt.timedelta(seconds=seconds)
    return wal_models.WalBundle(
        server="s",
        system_identifier="1",
        timeline=timeline_id,
        start_lsn=start,
        end_lsn=end,
        first_commit_at=at,
        last_commit_at=at,
        covered_until=at + dt.timedelta(seconds=5),
        size_bytes=1,
        sha256="0" * 64,
        compression="zstd",
        encrypted=False,
        parts=[],
    )


def _history(child: int, parent: int, switch: int) -> wal_models.WalHistory:
    return wal_models.WalHistory(
        server="s",
        system_identifier="1",
        timeline=child,
        parent_timeline=parent,
        switch_lsn=switch,
        content="",
        size_bytes=1,
        sha256="0" * 64,
        compression="zstd",
        encrypted=False,
        parts=[],
    )


BASE = wal_models.BaseBackup(
    server="s",
    system_identifier="1",
    timeline=1,
    start_lsn=16 * MB,
    stop_lsn=16 * MB + 100,
    started_at=T0 - dt.timedelta(seconds=5),
    stopped_at=T0,
    size_bytes=1,
    sha256="0" * 64,
    compression="zstd",
    encrypted=False,
    parts=[],
)
ONE = [_bundle(1, 16 * MB, 17 * MB, 10), _bundle(1, 17 * MB, SWITCH, 20)]
ABANDONED = _bundle(1, SWITCH, 19 * MB, 25)  # the old primary's WAL past the switch
TWO = [_bundle(2, SWITCH, 19 * MB, 30), _bundle(2, 19 * MB, 20 * MB, 40)]
HISTORIES = [_history(2, 1, SWITCH)]


def test_a_history_file_names_each_switch_and_the_child_that_goes_on() -> None:
    switches = timeline.parse(HISTORY_3, 3)
    assert switches == [
        timeline.Switch(1, 2, 0x1201234),
        timeline.Switch(2, 3, 0x1500000),
    ]
    assert timeline.content_of(HISTORY_3, 2) == "1\t0/1201234\tno recovery target specified\n"
    assert timeline.file_name(2) == "00000002.history"
    with pytest.raises(errors.WalError, match="timeline 3 has a line"):
        timeline.parse("1\tnot-a-position\n", 3)


def test_the_path_goes_on_the_child_at_the_switch_and_skips_the_abandoned_branch() -> None:
    ends = wal_coverage.switches(HISTORIES)
    run = wal_coverage.path([*ONE, ABANDONED, *TWO], 1, BASE.start_lsn, ends)
    assert run == [*ONE, *TWO]
    # Without the history, the stream stops where timeline 1's bundles do.
    assert wal_coverage.path([*ONE, *TWO], 1, BASE.start_lsn, {}) == ONE


def test_verify_reports_gaps_per_timeline_across_a_switch() -> None:
    clean = plan.verify("s", [BASE], [*ONE, ABANDONED, *TWO], HISTORIES)
    assert clean["gaps"] == []
    assert clean["timelines"] == [1, 2]
    assert clean["to"] == (T0 + dt.timedelta(seconds=45)).isoformat()
    short_of_switch = [ONE[0], _bundle(1, 17 * MB, SWITCH - 16, 20)]
    late_child = [_bundle(2, SWITCH + 16, 19 * MB, 30), TWO[1]]
    holes = plan.verify("s", [BASE], [*short_of_switch, *late_child], HISTORIES)["gaps"]
    assert holes == ["timeline 1: 0/1201224..0/1201234", "timeline 2: 0/1201234..0/1201244"]


def test_a_target_after_the_promotion_replays_into_the_child_timeline() -> None:
    chosen = plan.choose(
        "s", plan.Target(time=T0 + dt.timedelta(seconds=35)), [BASE], [*ONE, *TWO], HISTORIES
    )
    assert chosen.bundles == (*ONE, *TWO)
    assert ("recovery_target_timeline", "2") in chosen.settings
    assert chosen.histories == tuple(HISTORIES)


def test_a_target_before_the_promotion_stays_on_the_first_timeline() -> None:
    chosen = plan.choose(
        "s", plan.Target(time=T0 + dt.timedelta(seconds=15)), [BASE], [*ONE, *TWO], HISTORIES
    )
    assert chosen.bundles == tuple(ONE)
    assert all(name != "recovery_target_timeline" for name, _ in chosen.settings)
    assert chosen.histories == ()
