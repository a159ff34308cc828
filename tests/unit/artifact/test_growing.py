"""The first part read while it is written (worker.artifact.growing), through write_artifact."""

from __future__ import annotations

import io
import random
import threading
from pathlib import Path

import pytest

from worker import errors
from worker.artifact import growing, manifest, stream

PART = 64 * 1024


def _payload(size: int) -> bytes:
    return random.Random(5).randbytes(size)  # incompressible: the artifact is about its size


def _read_all(reader: growing.Reader) -> bytes:
    chunks = []
    while chunk := reader.read(10_000):
        chunks.append(chunk)
    return b"".join(chunks)


def test_the_first_part_is_read_whole_while_the_artifact_is_written(tmp_path: Path) -> None:
    read: list[bytes] = []
    threads: list[threading.Thread] = []

    def reader(part: growing.Growing) -> None:
        with part.open() as body:
            read.append(_read_all(body))

    def started(part: growing.Growing) -> None:
        # Told once the file holds its first bytes: the dump step's sender opens it then.
        threads.append(threading.Thread(target=reader, args=(part,)))
        threads[-1].start()

    first = growing.Growing(tmp_path / manifest.part_name("a.zst", 0), PART // 2, started=started)
    made = stream.write_artifact(
        io.BytesIO(_payload(4 * PART)),
        tmp_path,
        "a.zst",
        part_size=PART,
        first_part_size=PART // 2,
        compression="none",
        first_watch=first,
    )
    (thread,) = threads
    thread.join(5)
    assert read == [made.parts[0].path.read_bytes()]
    # Hashed as read: the record's hash, whatever the writer does after.
    assert first.part() == made.parts[0]


def test_a_first_part_that_ends_short_is_cut(tmp_path: Path) -> None:
    first = growing.Growing(tmp_path / manifest.part_name("a.zst", 0), PART)
    made = stream.write_artifact(
        io.BytesIO(_payload(PART // 4)),
        tmp_path,
        "a.zst",
        part_size=PART,
        compression="none",
        first_watch=first,
    )
    assert len(made.parts) == 1
    with first.open() as part, pytest.raises(errors.PartCut, match="ended before"):
        _read_all(part)
    with pytest.raises(errors.PartCut, match="not read whole"):
        first.part()


def test_a_failed_artifact_cuts_the_first_part(tmp_path: Path) -> None:
    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            self.calls += 1
            if self.calls > 2:
                raise OSError("pg_dump went away")
            buffer[:1000] = b"x" * 1000
            return 1000

    first = growing.Growing(tmp_path / manifest.part_name("a.zst", 0), PART)
    with pytest.raises(OSError, match="went away"):
        stream.write_artifact(
            io.BufferedReader(Broken()),
            tmp_path,
            "a.zst",
            part_size=PART,
            compression="none",
            first_watch=first,
            chunk_size=1000,
        )
    with pytest.raises(errors.PartCut):
        first.available(2000)


def test_a_part_that_stops_growing_gives_up(tmp_path: Path) -> None:
    path = tmp_path / "a.001"
    path.write_bytes(b"x" * 100)
    first = growing.Growing(path, PART, stall=0.2)
    first.wrote(100)
    with first.open() as part:
        assert part.read(1000) == b"x" * 100
        assert part.len == PART - 100
        with pytest.raises(errors.PartCut, match="stopped growing"):
            part.read(1000)


def test_only_a_database_several_times_the_first_part_streams_it() -> None:
    size = 10 * 1024 * 1024
    assert growing.worth_streaming(400 * 1024 * 1024, size)
    assert not growing.worth_streaming(30 * 1024 * 1024, size)
    assert not growing.worth_streaming(None, size)


def test_the_time_a_reader_waits_for_the_writer_is_counted(tmp_path: Path) -> None:
    # The sender leaves it out of the link's measured rate (Gate.answered's idle).
    path = tmp_path / "a.001"
    path.write_bytes(b"x" * 200)
    first = growing.Growing(path, 200)
    first.wrote(100)
    with first.open() as part:
        assert part.read(1000) == b"x" * 100
        threading.Timer(0.3, first.wrote, args=(100,)).start()
        assert part.read(1000) == b"x" * 100
    assert 0.2 < first.waited < 5
    assert first.part().size_bytes == 200
