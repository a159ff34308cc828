"""A network link between the worker and the stand-in: bandwidth and latency, no root needed.

    BotApiStandin(..., link=link.PROFILES["100mbit"])   # python -m standin --link 100mbit

The stand-in reads request bodies and writes answers through token buckets at the link's rate
(one per direction, shared by every connection, as one access link is), and each request waits
one round trip before it is answered. Bytes the client has written but the stand-in has not yet
read wait in the kernel's socket buffers, as they would on the way over a real link.
Why not `tc netem` in a network namespace: root, and a kernel with sch_netem; docs/benchmarks.md.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

CHUNK = 64 * 1024  # bytes read or written per step: the pacing's grain
BURST = 0.005  # seconds of the link's rate that may pass at once, as a NIC's queue lets through


@dataclass(frozen=True)
class Link:
    """A link's bandwidth (bytes per second, each direction) and round-trip time (seconds)."""

    rate: float
    rtt: float

    def __post_init__(self) -> None:
        if not self.rate > 0 or self.rtt < 0:
            raise ValueError("a link has a positive rate and a round-trip time of 0 or more")

    @property
    def mbit(self) -> float:
        """The rate in Mbit/s, as profiles are named."""
        return self.rate * 8 / 1e6


PROFILES = {
    "100mbit": Link(rate=100e6 / 8, rtt=0.040),
    "1gbit": Link(rate=1e9 / 8, rtt=0.005),
}


class Bucket:
    """Bytes through one direction of the link: take(n) returns when n more bytes may pass."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._rate = rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._free = 0.0  # when the link has sent everything taken so far

    def take(self, count: int) -> None:
        """Wait until `count` bytes have crossed the link, after every byte taken before."""
        with self._lock:
            now = self._clock()
            self._free = max(self._free, now) + count / self._rate
            done = self._free
        wait = done - BURST - now
        if wait > 0:
            self._sleep(wait)


class _Reader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...
    def readline(self, size: int = -1, /) -> bytes: ...
    def readinto(self, buffer: memoryview | bytearray, /) -> int: ...


class _Writer(Protocol):
    @property
    def closed(self) -> bool: ...
    def write(self, data: bytes | bytearray | memoryview, /) -> int: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class _Source(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class PacedReader:
    """A handler's rfile whose bytes arrive at the link's rate."""

    def __init__(self, raw: _Reader, bucket: Bucket) -> None:
        self._raw = raw
        self._bucket = bucket

    def read(self, size: int = -1, /) -> bytes:
        """Like BufferedReader.read, at most CHUNK bytes beyond what was asked for."""
        data = self._raw.read(CHUNK if size < 0 else min(size, CHUNK)) if size else b""
        self._bucket.take(len(data))
        return data

    def readline(self, size: int = -1, /) -> bytes:
        """A request or header line."""
        line = self._raw.readline(size)
        self._bucket.take(len(line))
        return line

    def readinto(self, buffer: memoryview | bytearray, /) -> int:
        """Fill at most CHUNK bytes of `buffer`."""
        view = memoryview(buffer)[:CHUNK]
        count = self._raw.readinto(view)
        self._bucket.take(count or 0)
        return count

    def close(self) -> None:
        """Close the underlying file."""
        close = getattr(self._raw, "close", None)
        if close is not None:
            close()


class PacedWriter:
    """A handler's wfile whose bytes leave at the link's rate."""

    def __init__(self, raw: _Writer, bucket: Bucket) -> None:
        self._raw = raw
        self._bucket = bucket

    def write(self, data: bytes | bytearray | memoryview, /) -> int:
        """Write all of `data`, CHUNK bytes at a time."""
        view = memoryview(data)
        for start in range(0, len(view), CHUNK):
            piece = view[start : start + CHUNK]
            self._bucket.take(len(piece))
            self._raw.write(piece)
        return len(view)

    def copy(self, source: _Source, count: int) -> None:
        """Send `count` bytes of `source` (a download's file)."""
        while count > 0 and (piece := source.read(min(CHUNK, count))):
            self.write(piece)
            count -= len(piece)

    @property
    def closed(self) -> bool:
        """Whether the underlying file is closed (socketserver's finish() asks)."""
        return self._raw.closed

    def flush(self) -> None:
        """Flush the underlying file."""
        self._raw.flush()

    def close(self) -> None:
        """Close the underlying file."""
        self._raw.close()


class Shaper:
    """A server's side of the link: one bucket per direction, shared by every connection."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self._in = Bucket(link.rate)
        self._out = Bucket(link.rate)

    def wrap(self, rfile: _Reader, wfile: _Writer) -> tuple[PacedReader, PacedWriter]:
        """A connection's files, paced (duck-typed: read, readline, readinto, write)."""
        return PacedReader(rfile, self._in), PacedWriter(wfile, self._out)

    def round_trip(self) -> None:
        """Wait a request's way there and its answer's way back."""
        time.sleep(self.link.rtt)
