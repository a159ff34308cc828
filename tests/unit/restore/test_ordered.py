"""Reading the artifact in order while its parts are checked in any order."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from worker.restore import ordered

SIZES = [5, 3, 7]


@pytest.fixture
def file(tmp_path: Path) -> Iterator[tuple[int, bytes]]:
    data = os.urandom(sum(SIZES))
    path = tmp_path / "artifact"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    yield fd, data
    os.close(fd)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the reader did not get there"
        time.sleep(0.01)


def test_bytes_come_in_order_and_only_from_checked_parts(file: tuple[int, bytes]) -> None:
    fd, data = file
    stream = ordered.InOrder(fd, SIZES)
    stream.checked(2)  # out of order: nothing can be read before part 1
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.extend(iter(lambda: stream.read(4), b"")))
    reader.start()
    reader.join(0.2)
    assert reader.is_alive()
    assert got == []
    stream.checked(0)
    wait_until(lambda: b"".join(got) == data[:5])
    reader.join(0.2)
    assert reader.is_alive()  # part 1 read, it waits for part 2
    assert b"".join(got) == data[:5]
    stream.checked(1)
    reader.join(5)
    assert not reader.is_alive()
    assert b"".join(got) == data
    assert stream.sha256.hexdigest() == hashlib.sha256(data).hexdigest()


def test_a_reader_waiting_for_a_part_that_will_not_come_is_told(file: tuple[int, bytes]) -> None:
    fd, data = file
    stream = ordered.InOrder(fd, SIZES)
    stream.checked(0)
    assert stream.read(-1) == data[:5]
    errors: list[BaseException] = []

    def read() -> None:
        try:
            stream.read(10)
        except ordered.Abandoned as exc:
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    stream.abandon()
    reader.join(5)
    assert len(errors) == 1


def test_drain_reads_the_rest_for_the_hash(file: tuple[int, bytes]) -> None:
    fd, data = file
    stream = ordered.InOrder(fd, SIZES)
    for index in range(len(SIZES)):
        stream.checked(index)
    assert stream.read(2) == data[:2]
    stream.drain(4)
    assert stream.read() == b""
    assert stream.sha256.hexdigest() == hashlib.sha256(data).hexdigest()


def test_a_file_shorter_than_its_parts_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "artifact"
    path.write_bytes(b"abc")
    fd = os.open(path, os.O_RDONLY)
    stream = ordered.InOrder(fd, [5])
    stream.checked(0)
    assert stream.read() == b"abc"
    with pytest.raises(OSError, match="ends at 3 of 5 bytes"):
        stream.read()
    os.close(fd)
