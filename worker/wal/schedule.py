"""Base backups on a schedule, taken by the host that streams the server.

The host holding a server's lease (worker.wal.lease) streams its WAL; it also takes the server's
base backup whenever the newest one stopped WAL_BASEBACKUP_HOURS ago or more (at once when there
is none), in a thread of its own while streaming goes on. So exactly one host of the fleet takes
them, with no second scheduler: a Celery task would hold a worker's pool thread for the whole
base backup, hours on a large server, past the broker's visibility timeout, and beat would need
to know which host can reach the server. WAL_BASEBACKUP_HOURS=0 leaves them to `wal basebackup`
by hand or from cron. Why: docs/pitr.md ("Base backups").
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable

from worker import errors

log = logging.getLogger(__name__)

CHECK_SECONDS = 60.0  # how often the control plane is asked for the newest base backup
RETRY_SECONDS = 600.0  # after a failed base backup, the wait before the next try


class BaseBackups:
    """Takes `take()` in a thread when `newest()` is `every` seconds old or None; one at a time."""

    def __init__(
        self,
        server: str,
        every: float,
        take: Callable[[], object],
        newest: Callable[[], dt.datetime | None],
        *,
        check: float = CHECK_SECONDS,
        retry: float = RETRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        if not every > 0:
            raise ValueError("a schedule's interval is a positive number of seconds")
        self._server = server
        self._every = every
        self._take = take
        self._newest = newest
        self._check = check
        self._retry = retry
        self._clock = clock
        self._now = now
        self._next_check = 0.0
        self._thread: threading.Thread | None = None
        self.taken = 0  # base backups this schedule took
        self.failed = 0

    def poll(self) -> None:
        """Start a base backup if one is due and none runs; cheap between checks."""
        if self.running or self._clock() < self._next_check:
            return
        newest = self._newest()
        age = None if newest is None else (self._now() - newest).total_seconds()
        if age is not None and age < self._every:
            self._next_check = self._clock() + min(self._check, self._every - age)
            return
        self._thread = threading.Thread(
            target=self._run, name=f"wal-basebackup-{self._server}", daemon=True
        )
        self._thread.start()

    @property
    def running(self) -> bool:
        """Whether a base backup is being taken now."""
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the base backup being taken, if any."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        started = self._clock()
        log.info("wal: server %s: taking its scheduled base backup", self._server)
        try:
            self._take()
        except Exception as exc:  # noqa: BLE001 - logged; the streaming thread goes on
            self.failed += 1
            self._next_check = self._clock() + self._retry
            # Our own errors say what happened without secrets; others by their type only.
            what = str(exc) if isinstance(exc, errors.BackupWorkerError) else type(exc).__name__
            log.error(
                "wal: server %s: scheduled base backup failed, next try in %.0f s: %s",
                self._server,
                self._retry,
                what,
            )
            return
        self.taken += 1
        self._next_check = 0.0  # ask the control plane again: it has the new one's time
        log.info(
            "wal: server %s: scheduled base backup taken in %.1f s",
            self._server,
            self._clock() - started,
        )
