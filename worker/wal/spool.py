"""pg_receivewal's local directory: where streaming starts, and reading a range of WAL back.

The spool is private (0700). Streaming always starts at the last recorded position: the spool
is emptied and a zero-filled `<segment>.partial` of full size is left for the segment holding
it, which pg_receivewal takes as its starting point (it resumes a partial segment from its
start). Segments are removed once a recorded bundle covers them whole.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from worker import errors
from worker.wal import lsn

READ_CHUNK = 1 << 20


def prepare(spool: Path) -> None:
    """Create the spool (0700) and empty it."""
    spool.mkdir(parents=True, exist_ok=True)
    os.chmod(spool, 0o700)
    for entry in spool.iterdir():
        if entry.is_file():
            entry.unlink()


def seed(spool: Path, timeline: int, position: int, segment_size: int) -> None:
    """Make pg_receivewal start at the segment holding `position`."""
    name = lsn.segment_name(timeline, lsn.segment_number(position, segment_size), segment_size)
    with (spool / f"{name}.partial").open("wb") as file:
        file.truncate(segment_size)


def segment_path(spool: Path, timeline: int, segment: int, segment_size: int) -> Path:
    """The spool's file for a segment: complete, or still partial."""
    name = lsn.segment_name(timeline, segment, segment_size)
    whole = spool / name
    return whole if whole.exists() else spool / f"{name}.partial"


def read_range(
    spool: Path, timeline: int, start: int, end: int, segment_size: int
) -> Iterator[bytes]:
    """The WAL bytes of [start, end), in chunks, from the spool's segment files."""
    position = start
    while position < end:
        segment = lsn.segment_number(position, segment_size)
        stop = min(end, (segment + 1) * segment_size)
        with _open_segment(spool, timeline, segment, segment_size) as file:
            file.seek(position - segment * segment_size)
            while position < stop:
                chunk = file.read(min(READ_CHUNK, stop - position))
                if not chunk:
                    raise errors.SpoolError(f"{file.name} ends before {lsn.format_lsn(stop)}")
                position += len(chunk)
                yield chunk


def _open_segment(spool: Path, timeline: int, segment: int, segment_size: int) -> BinaryIO:
    # pg_receivewal renames `.partial` once the segment is complete: try both names twice.
    for _attempt in range(2):
        try:
            return segment_path(spool, timeline, segment, segment_size).open("rb")
        except FileNotFoundError:
            continue
    name = lsn.segment_name(timeline, segment, segment_size)
    raise errors.SpoolError(f"WAL segment {name} is missing from the spool {spool}")


def drop_before(spool: Path, timeline: int, position: int, segment_size: int) -> None:
    """Remove the complete segments that end at or before `position`."""
    last = lsn.segment_number(position, segment_size)
    for entry in spool.iterdir():
        try:
            tli, segment = lsn.parse_segment_name(entry.name, segment_size)
        except errors.InputError:
            continue
        if tli == timeline and (segment + 1) * segment_size <= position and segment < last + 1:
            entry.unlink(missing_ok=True)


class RangeReader:
    """A file-like reader over `read_range`, for the artifact stream."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def read(self, size: int = -1, /) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


class SegmentWriter:
    """Writes WAL bytes from `start` on into the segment files they belong to (in `directory`)."""

    def __init__(self, directory: Path, timeline: int, start: int, segment_size: int) -> None:
        self.directory, self.timeline, self.segment_size = directory, timeline, segment_size
        self.position = start

    def write(self, data: bytes, /) -> int:
        view = memoryview(data)
        while view:
            segment = lsn.segment_number(self.position, self.segment_size)
            offset = self.position - segment * self.segment_size
            count = min(len(view), self.segment_size - offset)
            path = self.directory / lsn.segment_name(self.timeline, segment, self.segment_size)
            with path.open("r+b" if path.exists() else "w+b") as file:
                if file.seek(0, 2) < self.segment_size:
                    file.truncate(self.segment_size)  # a partial segment ends in zeros
                file.seek(offset)
                file.write(view[:count])
            view = view[count:]
            self.position += count
        return len(data)
