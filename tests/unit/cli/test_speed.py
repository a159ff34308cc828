"""The rate and time left of a stage, from the bytes its jobs row shows over time."""

from __future__ import annotations

import uuid

import pytest
from rich.console import Console

from worker.cli import follow, speed

MB = 1_000_000


def test_no_rate_before_two_amounts() -> None:
    pace = speed.Speed()
    assert pace.rate() is None
    pace.add("upload", 0.0, 0)
    assert pace.rate() is None
    assert pace.left(10 * MB) is None


def test_rate_and_time_left_from_the_amounts_seen() -> None:
    pace = speed.Speed()
    for second in range(5):
        pace.add("upload", float(second), second * 2 * MB)
        pace.add("upload", second + 0.5, second * 2 * MB)  # polled between two writes
    assert pace.rate() == pytest.approx(2 * MB)
    assert pace.left(20 * MB) == pytest.approx(6.0)  # 12 MB left at 2 MB/s
    assert pace.left(None) is None


def test_the_rate_follows_the_last_window_only() -> None:
    pace = speed.Speed(window=10)
    for second in range(30):  # 1 MB/s for 20 s, then 4 MB/s
        done = second * MB if second <= 20 else 20 * MB + (second - 20) * 4 * MB
        pace.add("download", float(second), done)
    assert pace.rate() == pytest.approx(3.7 * MB)  # 37 MB over the 10 s from 19 to 29
    pace.add("download", 30.0, 60 * MB)
    pace.add("download", 31.0, 64 * MB)
    assert pace.rate() == pytest.approx(4 * MB)


def test_a_stall_slows_the_rate_down() -> None:
    pace = speed.Speed()
    pace.add("restore", 0.0, 0)
    pace.add("restore", 1.0, 10 * MB)
    assert pace.rate() == pytest.approx(10 * MB)
    pace.add("restore", 2.0, 10 * MB)  # nothing new within STALLED: no change yet
    assert pace.rate() == pytest.approx(10 * MB)
    pace.add("restore", 10.0, 10 * MB)  # an index build, say
    assert pace.rate() == pytest.approx(1 * MB)


def test_a_new_stage_or_attempt_starts_again() -> None:
    pace = speed.Speed()
    pace.add("dump", 0.0, 0)
    pace.add("dump", 1.0, 5 * MB)
    pace.add("upload", 2.0, 1 * MB)
    assert pace.rate() is None
    pace.add("upload", 3.0, 2 * MB)
    assert pace.rate() == pytest.approx(1 * MB)
    pace.add("upload", 4.0, 0)  # the reaper ran the job again
    assert pace.rate() is None


def test_the_amount_says_what_is_known() -> None:
    assert speed.describe(None, None, None, None) == ""
    assert speed.describe(1_500_000, None, None, None) == "1.5 MB"
    assert speed.describe(1_500_000, 3_000_000, 500_000, 3.0) == (
        "1.5 MB / 3.0 MB  500.0 kB/s  0:00:03 left"
    )
    assert speed.duration(3725.4) == "1:02:05"


def running(done_mb: int) -> dict[str, object]:
    row = {"status": "running", "stage": "restore", "progress": 70}
    return row | {"bytes_done": done_mb * MB, "bytes_total": 40 * MB}


def test_the_bar_shows_bytes_rate_and_time_left() -> None:
    pace = speed.Speed()
    seen = [follow.shown(running(mb), "restore", pace, mb / 5) for mb in range(0, 20, 5)]
    assert seen[0] == "0 bytes / 40.0 MB"
    assert seen[3] == "15.0 MB / 40.0 MB  5.0 MB/s  0:00:05 left"  # 5 MB a second
    finished = {"status": "completed", "stage": "restore", "progress": 100}
    assert follow.shown(finished | {"bytes_done": None}, "restore", pace, 4.0) == ""
    ended = finished | {"bytes_done": 40 * MB, "bytes_total": 40 * MB}
    assert follow.shown(ended, "restore", pace, 5.0) == "40.0 MB / 40.0 MB"


def test_following_a_job_ends_with_its_last_row(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [running(mb) for mb in (0, 10, 20)]
    rows.append({"status": "completed", "stage": "restore", "progress": 100})
    reads = iter(rows)
    monkeypatch.setattr(follow, "read", lambda _database, _job_id: next(reads))  # the database
    console = Console(record=True, width=120)
    clock = iter(float(second) for second in range(10))
    state = follow.wait(
        None,  # type: ignore[arg-type]
        uuid.uuid4(),
        console=console,
        sleep=lambda _: None,
        clock=lambda: next(clock),
    )
    assert state == rows[-1]
    assert "100%" in console.export_text()
