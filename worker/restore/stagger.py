"""Parts downloaded at once that end one after another, in order: each waits for those before it.

A restore decodes the artifact in order, a part once it passed its checks (worker.restore.ordered).
Four downloads sharing one link each get a quarter of it and end together, so the decoder sat idle
until the download was nearly done, and then decoded four parts after it. Held back, a download
stops reading its socket; TCP's flow control then slows its sender and leaves the link to the
parts before it. Every request is still sent at once, so slow first bytes are waited for in
parallel; only the bytes come in order, and the decoder works while the rest download.

Holding cannot save more than the decoding of the parts that would have ended together, a fraction
of a second each; a server that caps each connection's rate would make a held part lose what it
could have read meanwhile. So a part is held HOLD_BUDGET seconds in all at most, then reads as
before: far inside the TELEGRAM_DOWNLOAD_MIN_RATE window it is also measured over.
"""

from __future__ import annotations

import threading
import time

HOLD_BUDGET = 0.5  # seconds a part may be held in all: about what decoding two parts takes


class Stagger:
    """The running downloads of one fetch, by part index: each held while one before it runs."""

    def __init__(self, budget: float = HOLD_BUDGET) -> None:
        self._budget = budget  # 0: nobody is ever held
        self._held: dict[int, float] = {}  # running parts: seconds each was held so far
        self._changed = threading.Condition()

    def start(self, index: int) -> None:
        """Part `index` begins downloading."""
        with self._changed:
            self._held[index] = 0.0

    def end(self, index: int) -> None:
        """Part `index` stopped downloading (done, failed or given up): it holds nobody back."""
        with self._changed:
            self._held.pop(index, None)
            self._changed.notify_all()

    def wrote(self, index: int) -> None:
        """Part `index` got more bytes; returns once it may read on."""
        with self._changed:
            while index in self._held and any(other < index for other in self._held):
                left = self._budget - self._held[index]
                if left <= 0:
                    return
                began = time.monotonic()
                self._changed.wait(left)
                if index in self._held:
                    self._held[index] += time.monotonic() - began
