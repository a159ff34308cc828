"""The artifact read from its start while later parts still download: one checked part at a time.

fetch.fetch writes parts at their offsets, several at once, in any order. An `InOrder` hands a
reader the file's bytes in order, but only those of parts whose size and SHA-256 already passed,
waiting for the next one otherwise; it hashes what it hands out, so the whole artifact's SHA-256
needs no second read. `following` runs the reader in a thread of its own beside the downloads.
So a restore decodes the artifact while it downloads, and what it decodes was checked first.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence


class Abandoned(Exception):
    """The download stopped before this part was checked: there is nothing more to read."""


class InOrder:
    """The file `fd`, made of parts of `sizes` bytes, read in order as each part is checked."""

    def __init__(self, fd: int, sizes: Sequence[int]) -> None:
        self._fd = fd
        self._ends = [sum(sizes[: i + 1]) for i in range(len(sizes))]
        self._checked = [False] * len(sizes)
        self._abandoned = False
        self._changed = threading.Condition()
        self._position = 0
        self._part = 0  # the part `_position` is in
        self.sha256 = hashlib.sha256()

    @property
    def size(self) -> int:
        return self._ends[-1] if self._ends else 0

    def checked(self, index: int) -> None:
        """Part `index` is on disk and passed its checks."""
        with self._changed:
            self._checked[index] = True
            self._changed.notify_all()

    def abandon(self) -> None:
        """No more parts will be checked: a reader waiting for one gets Abandoned."""
        with self._changed:
            self._abandoned = True
            self._changed.notify_all()

    def read(self, size: int = -1, /) -> bytes:
        """Up to `size` bytes of the current part once it is checked; b"" at the end."""
        if self._part >= len(self._ends):
            return b""
        with self._changed:
            while not self._checked[self._part]:
                if self._abandoned:
                    raise Abandoned
                self._changed.wait()
        left = self._ends[self._part] - self._position
        data = os.pread(self._fd, left if size < 0 else min(size, left), self._position)
        if not data:
            raise OSError(f"the artifact file ends at {self._position} of {self.size} bytes")
        self.sha256.update(data)
        self._position += len(data)
        if self._position == self._ends[self._part]:
            self._part += 1
        return data

    def drain(self, chunk: int) -> None:
        """Read what the reader left, for the hash (every part must be checked by now)."""
        while self.read(chunk):
            pass


# Reads the artifact in order while it downloads (a restore decoding it); runs in a thread.
Consumer = Callable[[InOrder], None]


class Follower(threading.Thread):
    """Runs a consumer over the stream, keeping its exception for the fetching thread."""

    def __init__(self, consume: Consumer | None, stream: InOrder) -> None:
        super().__init__(name="fetch-follower", daemon=True)
        self._consume = consume
        self._stream = stream
        self.error: BaseException | None = None

    def run(self) -> None:
        if self._consume is None:
            return
        try:
            self._consume(self._stream)
        except BaseException as exc:  # noqa: BLE001 - handed to the fetching thread
            self.error = exc


@contextlib.contextmanager
def following(consume: Consumer | None, stream: InOrder) -> Iterator[Follower]:
    """`consume` reading `stream` in a thread; abandoned, then joined, when the block ends."""
    follower = Follower(consume, stream)
    follower.start()
    try:
        yield follower
    finally:
        stream.abandon()  # a reader still waiting for a part gets Abandoned
        follower.join()
