from __future__ import annotations

import datetime as dt
import threading

import pytest

from worker import errors
from worker.wal import schedule

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


def _schedule(
    newest: list[dt.datetime | None], take: list[int], clock: Clock, *, fail: bool = False
) -> schedule.BaseBackups:
    def taking() -> None:
        take.append(1)
        if fail:
            raise errors.WalError("pg_basebackup of server main failed: could not connect")
        newest[0] = NOW

    return schedule.BaseBackups(
        "main",
        3600.0,
        taking,
        lambda: newest[0],
        check=60.0,
        retry=600.0,
        clock=clock,
        now=lambda: NOW,
    )


def test_a_server_without_a_base_backup_gets_one_at_once_and_then_one_per_interval() -> None:
    newest: list[dt.datetime | None] = [None]
    taken: list[int] = []
    clock = Clock()
    plan = _schedule(newest, taken, clock)
    plan.poll()
    plan.join(5)
    assert taken == [1]
    assert plan.taken == 1
    plan.poll()  # the new one is fresh: nothing due
    plan.join(5)
    assert taken == [1]


def test_an_old_base_backup_is_replaced_and_a_recent_one_is_not() -> None:
    newest: list[dt.datetime | None] = [NOW - dt.timedelta(minutes=30)]
    taken: list[int] = []
    clock = Clock()
    plan = _schedule(newest, taken, clock)
    plan.poll()
    assert not plan.running
    newest[0] = NOW - dt.timedelta(hours=2)
    plan.poll()  # asked again only after the check interval
    assert not plan.running
    clock.value += 61
    plan.poll()
    plan.join(5)
    assert taken == [1]


def test_one_at_a_time() -> None:
    release = threading.Event()
    calls: list[int] = []

    def slow() -> None:
        calls.append(1)
        assert release.wait(5)

    plan = schedule.BaseBackups("main", 3600.0, slow, lambda: None)
    plan.poll()
    plan.poll()
    assert plan.running
    release.set()
    plan.join(5)
    assert calls == [1]


def test_a_failed_base_backup_is_tried_again_after_the_retry_wait(
    caplog: pytest.LogCaptureFixture,
) -> None:
    newest: list[dt.datetime | None] = [None]
    taken: list[int] = []
    clock = Clock()
    plan = _schedule(newest, taken, clock, fail=True)
    plan.poll()
    plan.join(5)
    assert plan.failed == 1
    assert "could not connect" in caplog.text
    clock.value += 300
    plan.poll()
    assert not plan.running
    clock.value += 301
    plan.poll()
    plan.join(5)
    assert taken == [1, 1]
