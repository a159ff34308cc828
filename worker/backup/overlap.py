"""Sending finished parts while the dump still writes the next ones.

The writer announces a part as it starts the part after it, and never the last one (its
`announce_last` False), whose caption alone gives the number of parts: each part offered can go
at once. The sender sends in order, in one
thread, and gives up quietly when told to stop: whatever it has not sent, the upload step sends
from the spool with the final manifest. An error other than a vanished spool file is kept and
raised in the dump's thread (`check`), so a wrong token or a lost attempt ends the dump early.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from worker import errors
from worker.artifact import manifest

log = logging.getLogger(__name__)

_STOP = None


class PartSender:
    """Runs `send(part)` in a thread for every part offered, in order, until stopped."""

    def __init__(self, send: Callable[[manifest.PartFile], None]) -> None:
        self._send = send
        self._queue: queue.SimpleQueue[manifest.PartFile | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="part-sender", daemon=True)
        self.sent = 0

    def offer(self, part: manifest.PartFile) -> None:
        """A part was completed and is not the last (the writer's on_part): send it."""
        self._queue.put(part)

    def check(self) -> None:
        """Raise the sender's error, if it had one (call from the dump's thread)."""
        if self._error is not None:
            raise self._error

    @contextmanager
    def running(self) -> Iterator[PartSender]:
        """Send in the background for the block; on exit, finish the part in flight only."""
        self._thread.start()
        try:
            yield self
        finally:
            self._stopping.set()
            self._queue.put(_STOP)
            # The part in flight must be sent (or fail) and recorded before the step goes on:
            # a failure handler reads the sent parts from the jobs row to delete them again.
            self._thread.join()

    def _loop(self) -> None:
        while (part := self._queue.get()) is not _STOP:
            if self._stopping.is_set() or self._error is not None:
                continue
            try:
                self._send(part)
                self.sent += 1
            except errors.SpoolError as exc:
                # finish() renames parts past 999; the upload step sends them under their names.
                log.info("part %d left for the upload step: %s", part.index + 1, exc.message)
                self._stopping.set()
            except BaseException as exc:  # noqa: BLE001 - handed to the dump's thread by check()
                self._error = exc
