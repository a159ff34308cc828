"""Throttled progress: the jobs row is written at most a few times a second, never per chunk."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from worker import defaults

log = logging.getLogger(__name__)

# Seconds between two writes of the jobs row while a stage moves: a follower's rate and time
# left need a sample a second, the control plane no more than that per running job
# (JOB_PROGRESS_INTERVAL).
DEFAULT_INTERVAL = defaults.DEFAULT_PROGRESS_INTERVAL
HEARTBEAT_INTERVAL = 10.0  # seconds: write even without progress, so the job is seen alive

# Share of the whole job each stage covers, as (start, end) in percent.
STAGES: dict[str, tuple[int, int]] = {
    "dump": (1, 50),
    "upload": (50, 97),
    "record": (97, 100),
}


def overall(stage: str, fraction: float, stages: Mapping[str, tuple[int, int]] = STAGES) -> int:
    """The job's progress (0-100) when `stage` is `fraction` done."""
    start, end = stages[stage]
    fraction = min(max(fraction, 0.0), 1.0)
    return int(start + (end - start) * fraction)


@dataclass(frozen=True)
class Amount:
    """Bytes done in the current stage, out of `total` (None: not known, e.g. a dump's size)."""

    done: int
    total: int | None = None


Write = Callable[[str, int, Amount | None], object]  # stage, progress (0-100), its amount


class Reporter:
    """Calls `write(stage, progress, amount)` on a stage change, on a move (of the progress or of
    the amount) after `interval`, and at least every `heartbeat` seconds while updates keep
    coming (the write is the heartbeat)."""

    def __init__(
        self,
        write: Write,
        *,
        stages: Mapping[str, tuple[int, int]] = STAGES,
        interval: float = DEFAULT_INTERVAL,
        heartbeat: float = HEARTBEAT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._write = write
        self._stages = stages
        self._interval = interval
        self._heartbeat = heartbeat
        self._clock = clock
        self._last_at = float("-inf")
        self._last: tuple[str, int, Amount | None] | None = None

    def overall(self, stage: str, fraction: float) -> int:
        """The job's progress (0-100) when `stage` is `fraction` done."""
        return overall(stage, fraction, self._stages)

    def written(self, stage: str, fraction: float, amount: Amount | None = None) -> int:
        """The caller wrote `stage` at `fraction` itself (inside a transaction of its own, to
        save one): note it as the last write; returns the progress value to write."""
        progress = self.overall(stage, fraction)
        self._last = (stage, progress, amount)
        self._last_at = self._clock()
        return progress

    def update(
        self, stage: str, fraction: float, amount: Amount | None = None, *, force: bool = False
    ) -> None:
        """Report `stage` at `fraction` (0-1), `amount` bytes done; cheap to call per chunk."""
        progress = self.overall(stage, fraction)
        now = self._clock()
        stage_changed = self._last is None or self._last[0] != stage
        elapsed = now - self._last_at
        moved = self._last != (stage, progress, amount)
        if (moved and (force or stage_changed or elapsed >= self._interval)) or (
            elapsed >= self._heartbeat
        ):
            self._write(stage, progress, amount)
            self._last = (stage, progress, amount)
            self._last_at = now

    def amounts(self, stage: str, total: int | None) -> Callable[[int], None]:
        """`on_bytes(done)` for a stage of `total` bytes: its fraction and amount reported."""
        whole = max(total or 0, 1)

        def on_bytes(done: int) -> None:
            self.update(stage, done / whole if total else 0.0, Amount(done, total))

        return on_bytes


@contextmanager
def heartbeat(beat: Callable[[], object], interval: float) -> Iterator[None]:
    """Call `beat()` every `interval` seconds in a thread while the block runs.

    For steps that may sit without progress (pg_dump waiting on a lock): without a heartbeat
    the reaper would take the job for dead and run it a second time.
    """
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            try:
                beat()
            except Exception:  # a missed beat is no reason to stop the dump
                log.warning("heartbeat not written", exc_info=True)

    thread = threading.Thread(target=loop, name="job-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
