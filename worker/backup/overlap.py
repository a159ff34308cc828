"""Sending finished parts while the dump still writes the next ones.

The writer announces a part as it starts the part after it, and never the last one (its
`announce_last` False), whose caption alone gives the number of parts: each part offered can go
at once. The sender starts the parts in order, each once the one before it has left
(worker.backup.turns: two threads, so a slow link need not wait for each answer), and gives up
quietly when told to stop: whatever it has not sent, the upload step sends from the spool with
the final manifest. An error other than a vanished spool file is kept and
raised in the dump's thread (`check`), so a wrong token or a lost attempt ends the dump early.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from worker import errors
from worker.artifact import growing, manifest
from worker.backup import turns

log = logging.getLogger(__name__)

_STOP = None
THREADS = 2  # parts in flight at once: one leaving, the next starting
# A part offered: complete, or the first one still being written (worker.artifact.growing).
Offered = manifest.PartFile | growing.Growing
_P = TypeVar("_P", bound=Offered)


class PartSender(Generic[_P]):
    """Runs `send(part, left)` for every part offered, in order, until stopped; `send` calls
    `left()` when the part's body has left and the next part may start."""

    def __init__(self, send: Callable[[_P, turns.Left], None]) -> None:
        self._send = send
        self._queue: queue.SimpleQueue[_P | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._error: BaseException | None = None
        self._turns = turns.Turns()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._loop, name="part-sender", daemon=True)
            for _ in range(THREADS)
        ]
        self.sent = 0

    def offer(self, part: _P) -> None:
        """A part was completed and is not the last (the writer's on_part), or the first began
        (Growing's `started`): send it."""
        self._queue.put(part)

    def check(self) -> None:
        """Raise the sender's error, if it had one (call from the dump's thread)."""
        if self._error is not None:
            raise self._error

    @contextmanager
    def running(self) -> Iterator[PartSender[_P]]:
        """Send in the background for the block; on exit, finish the parts in flight only."""
        for thread in self._threads:
            thread.start()
        try:
            yield self
        finally:
            self._stopping.set()
            self._queue.put(_STOP)
            # The parts in flight must be sent (or fail) and recorded before the step goes on:
            # a failure handler reads the sent parts from the jobs row to delete them again.
            for thread in self._threads:
                thread.join()

    def _loop(self) -> None:
        while True:
            with self._turns.turn() as left:
                part = self._queue.get()
                if part is _STOP:
                    self._queue.put(_STOP)  # for the other thread
                    return
                if self._stopping.is_set() or self._error is not None:
                    continue
                try:
                    self._send(part, left)
                    with self._lock:
                        self.sent += 1
                except errors.SpoolError as exc:
                    # finish() renames parts past 999; the upload step sends them under their names.
                    log.info("part %d left for the upload step: %s", part.index + 1, exc.message)
                    self._stopping.set()
                except BaseException as exc:  # noqa: BLE001 - handed to the dump's thread by check()
                    with self._lock:
                        self._error = self._error or exc
