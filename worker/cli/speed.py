"""A stage's rate and time left, from the bytes its jobs row shows over time (`--wait`).

The worker writes the row at most once a second (JOB_PROGRESS_INTERVAL); the follower notes
when it saw each new amount and takes the rate over the last WINDOW seconds: long enough to
smooth a part that waits for Telegram, short enough to follow a change of pace.
"""

from __future__ import annotations

from collections import deque

from rich import filesize

WINDOW = 10.0  # seconds of samples the rate is taken over
STALLED = 3.0  # seconds without a new amount after which the wait counts against the rate


class Speed:
    """The samples (time, bytes done) of the current stage."""

    def __init__(self, window: float = WINDOW) -> None:
        self._window = window
        self._stage: str | None = None
        self._samples: deque[tuple[float, int]] = deque()
        self._now = 0.0

    def add(self, stage: str, now: float, done: int | None) -> None:
        """What the row says at `now` (seconds, monotonic): a new stage, or a new attempt
        (fewer bytes than before), starts the samples again."""
        self._now = now
        restart = stage != self._stage or done is None
        if restart or (self._samples and done is not None and done < self._samples[-1][1]):
            self._samples.clear()
        self._stage = stage
        if done is None:
            return
        if not self._samples or done != self._samples[-1][1]:
            self._samples.append((now, done))
        while len(self._samples) > 2 and self._samples[1][0] <= now - self._window:
            self._samples.popleft()

    def rate(self) -> float | None:
        """Bytes a second, or None before two amounts were seen."""
        if len(self._samples) < 2:
            return None
        (first_at, first), (last_at, last) = self._samples[0], self._samples[-1]
        elapsed = last_at - first_at
        if self._now - last_at > STALLED:
            elapsed = self._now - first_at
        return (last - first) / elapsed if elapsed > 0 else None

    def left(self, total: int | None) -> float | None:
        """Seconds until `total`, at the current rate; None when either is unknown."""
        rate = self.rate()
        if total is None or not self._samples or not rate:
            return None
        return max(total - self._samples[-1][1], 0) / rate


def describe(done: int | None, total: int | None, rate: float | None, left: float | None) -> str:
    """`12.3 MB / 45.6 MB  4.5 MB/s  0:00:07 left`, each part only when known."""
    if done is None:
        return ""
    amount = filesize.decimal(done) + (f" / {filesize.decimal(total)}" if total else "")
    parts = [amount]
    if rate is not None:
        parts.append(f"{filesize.decimal(int(rate))}/s")
    if left is not None:
        parts.append(f"{duration(left)} left")
    return "  ".join(parts)


def duration(seconds: float) -> str:
    """H:MM:SS, as rich's own time columns show it."""
    whole = int(seconds + 0.5)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"
