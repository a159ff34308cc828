"""Whose turn it is to start the next part of a backup: once the body before it has left.

Where the link, not the chat's rate, bounds a backup (a part takes longer to upload than the
spacing between two messages into one chat), waiting for each answer before the next upload
leaves the link idle for a round trip and Telegram's handling of the part: 0.11 s a part over
100 Mbit/s with 40 ms. So the next part starts as soon as the body before it has left (its last
block released at its slot), and two uploads are briefly in flight. Where the chat's rate is the
bound, the next part waits for the answer instead: a slot taken after the answer is one window
from it, a slot taken before it one window and the margin from the unanswered slot, which is
later. Why: docs/fleet.md ("Two uploads on a slow link").
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Left = Callable[[], None]  # the part's body has left: the next part may start


class Turns:
    """One part at a time starts; the turn passes on when its body has left, or when it ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @contextmanager
    def turn(self) -> Iterator[Left]:
        """Wait for the turn; the block gets `left()`, which hands it on early (once)."""
        self._lock.acquire()
        handed = threading.Lock()  # held once the turn was handed on

        def left() -> None:
            if handed.acquire(blocking=False):
                self._lock.release()

        try:
            yield left
        finally:
            left()
