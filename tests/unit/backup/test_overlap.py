from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from worker import errors
from worker.artifact import manifest
from worker.backup import overlap, turns


def _part(index: int) -> manifest.PartFile:
    return manifest.PartFile(index, Path(f"/spool/a.{index + 1:03d}"), 10, "0" * 64)


def test_each_part_offered_goes_at_once_in_order() -> None:
    sent: list[int] = []
    went = threading.Semaphore(0)

    def send(part: manifest.PartFile, left: turns.Left) -> None:
        sent.append(part.index)
        went.release()

    sender = overlap.PartSender(send)
    with sender.running():
        for index in range(3):
            sender.offer(_part(index))
            # Not held back for the next offer: the writer offers no last part.
            assert went.acquire(timeout=5)
            assert sent == list(range(index + 1))
    assert sender.sent == 3


def test_stopping_finishes_the_part_in_flight_and_drops_the_queued_ones() -> None:
    started, release = threading.Event(), threading.Event()
    sent: list[int] = []

    def send(part: manifest.PartFile, left: turns.Left) -> None:
        started.set()
        assert release.wait(5)
        sent.append(part.index)

    sender = overlap.PartSender(send)
    with sender.running():
        for index in range(4):
            sender.offer(_part(index))  # part 1 goes at once, parts 2..4 queue
        assert started.wait(5)
        threading.Timer(0.2, release.set).start()
    assert sent == [0]  # waited for part 1 to be sent; parts 2 to 4 left for the upload


def test_an_error_reaches_the_dumps_thread_and_stops_sending() -> None:
    calls: list[int] = []
    failed = threading.Event()

    def send(part: manifest.PartFile, left: turns.Left) -> None:
        calls.append(part.index)
        failed.set()
        raise errors.TelegramUnauthorized("TELEGRAM_BOT_TOKEN was refused by Telegram")

    sender = overlap.PartSender(send)
    with sender.running():
        sender.offer(_part(0))
        sender.offer(_part(1))
        assert failed.wait(5)
        sender.offer(_part(2))
        sender.offer(_part(3))
    assert calls == [0]
    with pytest.raises(errors.TelegramUnauthorized):
        sender.check()


def test_a_vanished_part_file_stops_sending_quietly() -> None:
    calls: list[int] = []
    gone = threading.Event()

    def send(part: manifest.PartFile, left: turns.Left) -> None:
        calls.append(part.index)
        gone.set()
        raise errors.SpoolError("sendDocument: cannot read /spool/a.001: No such file")

    sender = overlap.PartSender(send)
    with sender.running():
        for index in range(3):
            sender.offer(_part(index))
        assert gone.wait(5)
    assert calls == [0]
    sender.check()  # not an error: the upload step sends what is left


def test_the_next_part_starts_once_the_one_before_has_left_not_when_it_is_answered() -> None:
    answer = threading.Event()
    started: list[int] = []
    second = threading.Event()

    def send(part: manifest.PartFile, left: turns.Left) -> None:
        started.append(part.index)
        if part.index == 0:
            left()  # the body has left: part 2 may go while part 1 waits for its answer
            assert answer.wait(5)
        else:
            second.set()

    sender = overlap.PartSender(send)
    with sender.running():
        sender.offer(_part(0))
        sender.offer(_part(1))
        assert second.wait(5)
        assert started == [0, 1]
        answer.set()
    assert sender.sent == 2


def test_without_left_the_next_part_waits_for_the_one_before() -> None:
    answer = threading.Event()
    started: list[int] = []

    def send(part: manifest.PartFile, left: turns.Left) -> None:
        started.append(part.index)
        if part.index == 0:
            assert answer.wait(5)

    sender = overlap.PartSender(send)
    with sender.running():
        sender.offer(_part(0))
        sender.offer(_part(1))
        assert not _waits_for(lambda: len(started) == 2, 0.3)
        answer.set()
        assert _waits_for(lambda: len(started) == 2, 5)
    assert started == [0, 1]


def _waits_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()
