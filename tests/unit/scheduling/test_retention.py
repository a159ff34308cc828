"""worker.scheduling.retention: grandfather-father-son rules."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from worker import errors
from worker.scheduling import retention
from worker.scheduling.retention import Candidate, Policy


def daily_backups(days: int, *, start: dt.datetime, per_day: int = 1) -> list[Candidate]:
    """`per_day` backups a day for `days` days, newest last."""
    return [
        Candidate(uuid.uuid4(), start + dt.timedelta(days=day, hours=3 + 6 * n))
        for day in range(days)
        for n in range(per_day)
    ]


START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def kept_times(backups: list[Candidate], policy: Policy, tz: str = "UTC") -> list[dt.datetime]:
    ids = retention.keep(backups, policy, tz)
    return sorted(b.created_at for b in backups if b.backup_id in ids)


def test_no_backups_keep_nothing() -> None:
    assert retention.keep([], Policy(last=3)) == set()


def test_the_newest_is_kept_even_with_every_rule_off() -> None:
    backups = daily_backups(10, start=START)
    assert kept_times(backups, Policy()) == [backups[-1].created_at]


def test_keep_last() -> None:
    backups = daily_backups(10, start=START)
    assert kept_times(backups, Policy(last=3)) == [b.created_at for b in backups[-3:]]


def test_keep_daily_takes_the_newest_of_each_day() -> None:
    backups = daily_backups(10, start=START, per_day=4)
    kept = kept_times(backups, Policy(daily=3))
    assert [k.date() for k in kept] == [
        dt.date(2024, 1, 8),
        dt.date(2024, 1, 9),
        dt.date(2024, 1, 10),
    ]
    assert all(k.hour == 21 for k in kept)


def test_keep_weekly_uses_iso_weeks() -> None:
    backups = daily_backups(60, start=START)  # 2024-01-01 is a Monday
    kept = kept_times(backups, Policy(weekly=4))
    assert len(kept) == 4
    assert [k.isoweekday() for k in kept[:-1]] == [7, 7, 7]  # Sundays close full weeks
    assert kept[-1] == backups[-1].created_at


def test_keep_monthly() -> None:
    backups = daily_backups(200, start=START)
    kept = kept_times(backups, Policy(monthly=3))
    assert [(k.month, k.day) for k in kept] == [(5, 31), (6, 30), (7, 18)]


def test_rules_combine_as_a_union() -> None:
    backups = daily_backups(90, start=START)
    policy = Policy(last=2, daily=7, weekly=4, monthly=3)
    kept = kept_times(backups, policy)
    alone = {
        t
        for rule in (Policy(last=2), Policy(daily=7), Policy(weekly=4), Policy(monthly=3))
        for t in kept_times(backups, rule)
    }
    assert set(kept) == alone
    assert len(kept) < len(backups)


def test_days_are_counted_in_the_schedule_time_zone() -> None:
    # 23:30 UTC is already the next day in Tokyo (UTC+9).
    late = Candidate(uuid.uuid4(), dt.datetime(2024, 3, 1, 23, 30, tzinfo=dt.UTC))
    early = Candidate(uuid.uuid4(), dt.datetime(2024, 3, 1, 16, 0, tzinfo=dt.UTC))
    older = Candidate(uuid.uuid4(), dt.datetime(2024, 3, 1, 1, 0, tzinfo=dt.UTC))
    backups = [older, early, late]
    # UTC: all three on March 1st; one day kept -> only the newest.
    assert retention.keep(backups, Policy(daily=2), "UTC") == {late.backup_id}
    # Tokyo: `late` is March 2nd, `early` and `older` March 2nd / 1st.
    assert retention.keep(backups, Policy(daily=2), "Asia/Tokyo") == {
        late.backup_id,
        older.backup_id,
    }


def test_horizon_covers_the_calendar_rules() -> None:
    assert Policy(last=5).horizon_days() is None
    assert Policy(daily=7).horizon_days() == 8
    assert Policy(daily=7, weekly=4).horizon_days() == 35
    assert Policy(monthly=12).horizon_days() == 403


@pytest.mark.parametrize("bad", [-1, 10_001, True, 1.5])
def test_bad_counts_are_refused(bad: object) -> None:
    with pytest.raises(errors.InputError, match="keep_daily"):
        Policy(daily=bad)  # type: ignore[arg-type]


def test_policy_from_nullable_columns() -> None:
    assert Policy.of(None, 7, None, 0) == Policy(daily=7)
    assert not Policy.of().active
    assert Policy.of(last=1).active
    assert Policy(last=2, weekly=4).describe() == "last 2, weekly 4"
