"""Choosing what a recovery target needs, and refusing what no retained WAL covers."""

from __future__ import annotations

import datetime as dt

import pytest

from db import wal_models
from worker import errors
from worker.wal import lsn, plan, point

T0 = dt.datetime(2026, 12, 5, 14, 0, tzinfo=dt.UTC)
MB = 1 << 20


def _base(start: int, stop: int, at: dt.datetime) -> wal_models.BaseBackup:
    return wal_models.BaseBackup(
        server="s",
        system_identifier="1",
        timeline=1,
        start_lsn=start,
        stop_lsn=stop,
        started_at=at - dt.timedelta(seconds=5),
        stopped_at=at,
        size_bytes=1,
        sha256="0" * 64,
        compression="zstd",
        encrypted=False,
        parts=[],
    )


def _bundle(
    start: int, end: int, last_commit: dt.datetime | None, covered: dt.datetime
) -> wal_models.WalBundle:
    return wal_models.WalBundle(
        server="s",
        system_identifier="1",
        timeline=1,
        start_lsn=start,
        end_lsn=end,
        first_commit_at=last_commit,
        last_commit_at=last_commit,
        covered_until=covered,
        size_bytes=1,
        sha256="0" * 64,
        compression="zstd",
        encrypted=False,
        parts=[],
    )


BASES = [_base(16 * MB, 16 * MB + 100, T0)]
BUNDLES = [
    _bundle(15 * MB, 17 * MB, T0 + dt.timedelta(seconds=10), T0 + dt.timedelta(seconds=20)),
    _bundle(17 * MB, 18 * MB, T0 + dt.timedelta(seconds=40), T0 + dt.timedelta(seconds=60)),
]


def test_a_time_between_commits_is_a_recovery_target_and_reads_up_to_the_next_commit() -> None:
    target = T0 + dt.timedelta(seconds=15)
    chosen = plan.choose("s", plan.Target(time=target), BASES, BUNDLES)
    assert chosen.settings == (("recovery_target_time", target.isoformat()),)
    assert [b.start_lsn for b in chosen.bundles] == [15 * MB, 17 * MB]


def test_a_time_after_the_last_commit_replays_everything_without_a_target() -> None:
    chosen = plan.choose("s", plan.Target(time=T0 + dt.timedelta(seconds=50)), BASES, BUNDLES)
    assert chosen.settings == ()
    assert len(chosen.bundles) == 2


def test_a_time_outside_the_window_is_refused_naming_the_window() -> None:
    late = T0 + dt.timedelta(minutes=5)
    with pytest.raises(errors.OutsideWindow) as caught:
        plan.choose("s", plan.Target(time=late), BASES, BUNDLES)
    assert str(caught.value) == (
        f"{late.isoformat()} is outside the window: server s is recoverable from "
        f"{T0.isoformat()} to {(T0 + dt.timedelta(seconds=60)).isoformat()}"
    )
    with pytest.raises(errors.OutsideWindow, match="outside the window"):
        plan.choose("s", plan.Target(time=T0 - dt.timedelta(seconds=1)), BASES, BUNDLES)


def test_a_gap_in_the_wal_ends_the_window_and_is_reported() -> None:
    holed = [*BUNDLES[:1], _bundle(20 * MB, 21 * MB, None, T0 + dt.timedelta(hours=1))]
    assert plan.gaps(holed) == [(17 * MB, 20 * MB)]
    with pytest.raises(errors.OutsideWindow):
        plan.choose("s", plan.Target(time=T0 + dt.timedelta(minutes=30)), BASES, holed)


def test_nothing_is_recoverable_without_a_base_backup() -> None:
    with pytest.raises(errors.OutsideWindow, match="nothing is recoverable"):
        plan.choose("s", plan.Target(), [], BUNDLES)


def test_targets_parse_and_refuse_a_time_without_its_zone() -> None:
    assert point.parse_target(None, "1/A0", False).position == (1 << 32) + 0xA0
    assert point.parse_target(None, None, True).latest
    with pytest.raises(errors.InputError, match="needs a time zone"):
        point.parse_target("2026-12-05 14:03:07", None, False)
    with pytest.raises(errors.InputError, match="exactly one"):
        point.parse_target("2026-12-05 14:03:07+00", None, True)


def test_segment_names_follow_postgresql() -> None:
    assert lsn.segment_name(1, lsn.segment_number(lsn.parse("0/16B3748"), 16 * MB), 16 * MB) == (
        "000000010000000000000001"
    )
    assert lsn.parse_segment_name("0000000200000001000000FF", 16 * MB) == (2, 256 + 255)
    assert lsn.format_lsn(lsn.parse("16/B374D848")) == "16/B374D848"


def test_verify_names_every_gap_from_the_oldest_base_backup() -> None:
    holed = [*BUNDLES[:1], _bundle(20 * MB, 21 * MB, None, T0 + dt.timedelta(hours=1))]
    report = plan.verify("s", BASES, holed)
    assert report["gaps"] == ["timeline 1: 0/1100000..0/1400000"]
    assert plan.verify("s", BASES, BUNDLES)["gaps"] == []
    late = [_bundle(17 * MB, 18 * MB, None, T0)]
    assert plan.verify("s", BASES, late)["gaps"] == ["timeline 1: 0/1000000..0/1100000"]
