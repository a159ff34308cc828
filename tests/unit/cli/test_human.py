"""Sizes, durations and times as the tables and summaries print them."""

from __future__ import annotations

import datetime as dt

import pytest

from worker.cli import human

NOW = dt.datetime(2026, 12, 6, 6, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, ""),
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (10_066_330, "9.6 MiB"),
        (1024 * 1024 - 1, "1.0 MiB"),  # not "1024.0 KiB"
        (2 * 1024**3, "2.0 GiB"),
        (3 * 1024**6, "3072.0 PiB"),
        ("2048", "2.0 KiB"),
    ],
)
def test_size(value: object, shown: str) -> None:
    assert human.size(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, ""),
        (0, "0.0 s"),
        (0.42, "0.4 s"),
        (9.94, "9.9 s"),
        (45, "45 s"),
        (72, "1 min 12 s"),
        (120, "2 min"),
        (3600 + 5 * 60 + 7, "1 h 5 min"),
        (2 * 86400 + 4 * 3600 + 59, "2 d 4 h"),
        (86400 + 30, "1 d"),
        (-72, "-1 min 12 s"),
    ],
)
def test_duration(value: object, shown: str) -> None:
    assert human.duration(value) == shown


def test_between_reads_iso_text_and_datetimes() -> None:
    start = "2026-12-06T05:58:48+00:00"
    assert human.between(start, NOW) == "1 min 12 s"
    assert human.between(None, NOW) == ""


def test_timestamp_is_utc_to_the_minute() -> None:
    assert human.timestamp("2026-12-06T07:35:59+02:00") == "2026-12-06 05:35"
    assert human.timestamp(None) == ""


def test_ago_and_ahead() -> None:
    assert human.ago(NOW - dt.timedelta(hours=3, minutes=5), NOW) == "3 h 5 min ago"
    assert human.ago((NOW + dt.timedelta(days=2)).isoformat(), NOW) == "in 2 d"
    assert human.ago("", NOW) == ""


def test_count() -> None:
    assert [human.count(n, "part") for n in (0, 1, 2)] == ["0 parts", "1 part", "2 parts"]
