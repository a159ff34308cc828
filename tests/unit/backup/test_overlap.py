from __future__ import annotations

import threading
from pathlib import Path

import pytest

from worker import errors
from worker.artifact import manifest
from worker.backup import overlap


def _part(index: int) -> manifest.PartFile:
    return manifest.PartFile(index, Path(f"/spool/a.{index + 1:03d}"), 10, "0" * 64)


def test_each_part_offered_goes_at_once_in_order() -> None:
    sent: list[int] = []
    went = threading.Semaphore(0)

    def send(part: manifest.PartFile) -> None:
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

    def send(part: manifest.PartFile) -> None:
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

    def send(part: manifest.PartFile) -> None:
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

    def send(part: manifest.PartFile) -> None:
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
