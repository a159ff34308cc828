"""worker.scheduling.when: cron and interval parsing, next run, DST, period."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from worker import errors
from worker.scheduling import when as schedule
from worker.scheduling.when import When

UTC = dt.UTC
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("6h", 21600), ("1d", 86400), ("1w", 604800), ("1h30m", 5400)],
)
def test_intervals_in_units(text: str, seconds: int) -> None:
    assert schedule.parse_interval(text) == dt.timedelta(seconds=seconds)


def test_interval_as_plain_seconds_and_timedelta() -> None:
    assert schedule.parse_interval("3600") == dt.timedelta(hours=1)
    assert schedule.parse_interval(120) == dt.timedelta(minutes=2)
    assert schedule.parse_interval(dt.timedelta(days=2)) == dt.timedelta(days=2)


@pytest.mark.parametrize("bad", ["", "6 hours", "h", "-5m", "0s", "400d", "1.5h", True])
def test_bad_intervals_are_refused(bad: object) -> None:
    with pytest.raises(errors.InputError, match="interval"):
        schedule.parse_interval(bad)  # type: ignore[arg-type]


def test_interval_below_the_tick_is_refused_but_a_shorter_tick_allows_it() -> None:
    with pytest.raises(errors.InputError, match="shorter than the dispatcher's tick"):
        When.parse(every="30s")
    when = When.parse(every="10s", min_interval=dt.timedelta(seconds=5))
    assert when.interval_seconds == 10


@pytest.mark.parametrize(
    "bad", ["* * * *", "0 0 * * * *", "61 * * * *", "0 25 * * *", "0 0 31 2 *", "@often"]
)
def test_bad_cron_is_refused(bad: str) -> None:
    with pytest.raises(errors.InputError, match="cron"):
        When.parse(cron=bad)


def test_cron_is_normalised_and_aliases_expand() -> None:
    assert When.parse(cron="  0   3 * *  * ").cron == "0 3 * * *"
    assert When.parse(cron="@daily").cron == "0 0 * * *"
    assert When.parse(cron="@HOURLY").cron == "0 * * * *"


def test_exactly_one_of_cron_and_interval() -> None:
    with pytest.raises(errors.InputError, match="either"):
        When.parse()
    with pytest.raises(errors.InputError, match="either"):
        When.parse(cron="@daily", every="1h")


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(errors.InputError, match="time zone"):
        When.parse(cron="@daily", timezone="Mars/Olympus")


def test_cron_next_run_is_strictly_after_now() -> None:
    when = When.parse(cron="0 3 * * *")
    assert when.next_after(at(2025, 1, 1, 2, 59)) == at(2025, 1, 1, 3, 0)
    assert when.next_after(at(2025, 1, 1, 3, 0)) == at(2025, 1, 2, 3, 0)
    assert when.next_after(at(2025, 1, 1, 3, 0, 0) + dt.timedelta(microseconds=5)) == at(
        2025, 1, 2, 3, 0
    )


def test_cron_is_read_in_its_time_zone_and_returned_in_utc() -> None:
    when = When.parse(cron="0 3 * * *", timezone="Europe/Berlin")
    winter = when.next_after(at(2025, 1, 10, 0, 0))
    summer = when.next_after(at(2025, 7, 10, 0, 0))
    assert winter == at(2025, 1, 10, 2, 0)  # 03:00 CET
    assert summer == at(2025, 7, 10, 1, 0)  # 03:00 CEST
    assert winter.tzinfo is UTC


def test_a_run_in_the_skipped_dst_hour_happens_once_right_after() -> None:
    # 2025-03-30: Berlin skips 02:00-03:00. Debian cron runs a 02:30 job at 03:00.
    when = When.parse(cron="30 2 * * *", timezone="Europe/Berlin")
    moment = when.next_after(at(2025, 3, 29, 12, 0))
    assert moment.astimezone(BERLIN).replace(tzinfo=None) == dt.datetime(2025, 3, 30, 3, 0)
    following = when.next_after(moment)
    assert following.astimezone(BERLIN).replace(tzinfo=None) == dt.datetime(2025, 3, 31, 2, 30)


def test_a_run_in_the_repeated_dst_hour_happens_once() -> None:
    # 2025-10-26: Berlin repeats 02:00-03:00; a 02:30 job must not run twice.
    when = When.parse(cron="30 2 * * *", timezone="Europe/Berlin")
    first = when.next_after(at(2025, 10, 25, 12, 0))
    second = when.next_after(first)
    assert second - first > dt.timedelta(hours=20)


def test_interval_keeps_the_phase_of_its_anchor_and_skips_missed_slots() -> None:
    when = When.parse(every="1h")
    anchor = at(2025, 1, 1, 0, 0)
    assert when.next_after(at(2025, 1, 1, 0, 30), anchor=anchor) == at(2025, 1, 1, 1, 0)
    # Three periods late: the next slot after now, not the three missed ones.
    assert when.next_after(at(2025, 1, 1, 3, 10), anchor=anchor) == at(2025, 1, 1, 4, 0)
    assert when.next_after(at(2025, 1, 1, 1, 0), anchor=anchor) == at(2025, 1, 1, 2, 0)
    assert when.first_run(at(2025, 1, 1, 0, 0)) == at(2025, 1, 1, 1, 0)


def test_period_is_the_longest_gap() -> None:
    now = at(2025, 1, 1)
    assert When.parse(every="6h").period(now) == dt.timedelta(hours=6)
    assert When.parse(cron="0 3 * * *").period(now) == dt.timedelta(days=1)
    assert When.parse(cron="0 3 * * 1-5").period(now) == dt.timedelta(days=3)
    assert When.parse(cron="*/15 * * * *").period(now) == dt.timedelta(minutes=15)
    berlin_daily = When.parse(cron="0 3 * * *", timezone="Europe/Berlin")
    assert berlin_daily.period(now) == dt.timedelta(hours=25)  # the autumn DST night


def test_describe() -> None:
    assert When.parse(every="90m").describe() == "every 1h30m"
    assert When.parse(cron="@daily", timezone="Asia/Tokyo").describe() == (
        "cron 0 0 * * * (Asia/Tokyo)"
    )


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(errors.InputError, match="time zone"):
        When.parse(every="1h").next_after(dt.datetime(2025, 1, 1))
