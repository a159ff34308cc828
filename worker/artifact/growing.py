"""A part read while it is still being written: its bytes go over the link as the dump makes them.

Telegram has a message only once its whole request has arrived, but the request can be on its
way before the part is complete. Until the first part is complete nothing else can use the link,
so the first part is the one streamed: its size is fixed in advance (stream.first_part_size), and
a request's length must be known when it starts. If the artifact ends before the part is full,
the part is the last and shorter: the reader raises PartCut, the request is dropped before its
end (Telegram counts nothing), and the part is sent whole later. The same when it stops growing
for STALL seconds (pg_dump waiting for a lock), rather than leave a request half-sent for a front
end's body timeout. Why: docs/benchmarks.md ("Decisions").
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from worker import errors
from worker.artifact.manifest import PartFile

STALL = 20.0  # seconds without a new byte before a streamed part gives up
# A database whose tables hold less than this many times the first part's size may dump into
# less than one part (zstd shrinks a dump 3 to 10 times): then the part is the last and the
# bytes streamed are sent again. Such a backup is small, and sends its first part whole.
MIN_SOURCE_RATIO = 8


def worth_streaming(estimate: int | None, size: int, previous: int | None = None) -> bool:
    """Whether to stream a first part of `size` bytes of a database whose tables hold about
    `estimate` bytes (None: unknown, not streamed) and whose last artifact took `previous`
    bytes (None: no earlier backup; one within the part is likely to be the last again)."""
    went_past = previous is None or previous > size
    return went_past and estimate is not None and estimate >= MIN_SOURCE_RATIO * size


class Growing:
    """The first part of an artifact as the writer fills it, for one reader at a time."""

    index = 0  # the first part

    def __init__(
        self,
        path: Path,
        size: int,
        *,
        started: Callable[[Growing], None] | None = None,
        stall: float = STALL,
    ) -> None:
        self.path = path
        self.size = size  # bytes the part holds once complete
        self._started = started  # told once the part's file holds its first bytes
        self._stall = stall
        self._changed = threading.Condition()
        self._written = 0
        self._cut = False
        self._read_whole: str | None = None  # SHA-256 of the part, as a reader read it whole
        self.waited = 0.0  # seconds the last reader waited for the writer

    def part(self) -> PartFile:
        """The part as the last reader read it whole (hashed as read: the writer may close it
        later, or fail after it was sent); PartCut if none did."""
        with self._changed:
            digest = self._read_whole
        if digest is None:
            raise errors.PartCut(f"{self.path.name} was not read whole")
        return PartFile(0, self.path, self.size, digest)

    def wrote(self, count: int) -> None:
        """The writer appended `count` bytes to the part's file."""
        with self._changed:
            first = self._written == 0 and count > 0
            self._written += count
            self._changed.notify_all()
        if first and self._started is not None:
            self._started(self)

    def read_whole(self, sha256: str) -> None:
        """A reader read the part to its end: these are its bytes."""
        with self._changed:
            self._read_whole = sha256

    def cut(self) -> None:
        """The part will not be complete at this size: it is the last, or the artifact failed."""
        with self._changed:
            self._cut = True
            self._changed.notify_all()

    def open(self) -> Reader:
        """A reader of the part from its first byte (the client's body for one try)."""
        reader = Reader(self, self.path.open("rb"))
        with self._changed:
            self.waited = 0.0
        return reader

    def available(self, offset: int) -> int:
        """Bytes readable past `offset`, waiting for at least one; PartCut if none will come."""
        with self._changed:
            while True:
                if self._cut:
                    raise errors.PartCut(f"{self.path.name} ended before {self.size:,} bytes")
                if self._written > offset:
                    return self._written - offset
                since = time.monotonic()
                woke = self._changed.wait(self._stall)
                self.waited += time.monotonic() - since
                if not woke:
                    raise errors.PartCut(
                        f"{self.path.name} stopped growing for {self._stall:.0f} s at "
                        f"{self._written:,} bytes"
                    )


class Reader:
    """Reads a Growing part as it grows; `len` is what is left of its final size (the
    multipart encoder's measure), so a request's length is known before the part is complete."""

    def __init__(self, growing: Growing, file: BinaryIO) -> None:
        self._growing = growing
        self._file = file
        self._position = 0
        self._hash = hashlib.sha256()

    @property
    def len(self) -> int:
        """Bytes left to read of the part's final size."""
        return self._growing.size - self._position

    def tell(self) -> int:
        """Bytes read so far."""
        return self._position

    def read(self, size: int = -1, /) -> bytes:
        """At least one byte (waiting for the writer), at most `size`; b"" at the part's end."""
        left = self.len
        if left <= 0:
            return b""
        wanted = left if size is None or size < 0 else min(size, left)
        ready = self._growing.available(self._position)
        data = self._file.read(min(wanted, ready))
        if not data:
            raise errors.PartCut(f"{self._growing.path.name} is shorter than written")
        self._position += len(data)
        self._hash.update(data)
        if self._position == self._growing.size:
            self._growing.read_whole(self._hash.hexdigest())
        return data

    def close(self) -> None:
        """Close the part's file."""
        self._file.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
