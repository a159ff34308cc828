"""How far a pg_restore is through its archive's table data, in bytes.

Two measures, both cheap, against each table's data size in the archive (worker/postgres/toc.py):
- pg_restore --verbose says when a table's data starts (`processing data for table "s.t"`) and,
  with --jobs above 1, when it ends (`finished item N TABLE DATA t`); run serially, a table
  ended when the next line comes. A table that ended counts whole.
- pg_stat_progress_copy (PostgreSQL 14 and later) has the bytes each running COPY has taken so
  far, which makes the measure move within one big table. The tables being loaded count with
  those bytes, never more than their sizes. Without the view (an older server, no rights), the
  measure moves table by table.
The worker dumps uncompressed, so a table's size in the archive is the COPY text the server
receives (the view's `bytes_processed`) plus five bytes a row: a running table counts a little
short, and whole once it ended.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence

from worker import errors
from worker.postgres import source, target, toc

log = logging.getLogger(__name__)

POLL_INTERVAL = 1.0  # seconds between two looks at pg_stat_progress_copy
COPYING = (
    "SELECT coalesce(sum(bytes_processed), 0) FROM pg_catalog.pg_stat_progress_copy "
    "WHERE datname = %s"
)
_LAUNCHED = re.compile(r"^pg_restore: launching item (\d+) TABLE DATA ")
_FINISHED = re.compile(r"^pg_restore: finished item (\d+) TABLE DATA ")
_PROCESSING = re.compile(r'^pg_restore: processing data for table "(.*)"$')
_PARALLEL = "pg_restore: entering main parallel loop"
# pg_restore --verbose lines that say how far it is, not what went wrong.
_CHATTER = re.compile(
    r"^pg_restore: (connecting to database|processing item|processing data for table|"
    r"creating |launching item|finished item|entering main parallel loop|"
    r"finished main parallel loop|executing |setting owner|implied data-only)"
)


class Advance:
    """The table data a pg_restore has loaded; fed by its stderr lines and the COPYs' bytes,
    from two threads."""

    def __init__(self, tables: Sequence[toc.Table]) -> None:
        self._sizes = {table.dump_id: table.size for table in tables}
        self._ids = {table.name: table.dump_id for table in tables}
        self.total = sum(self._sizes.values())
        self._started: set[int] = set()
        self._finished: set[int] = set()
        self._parallel = False
        self._copying = 0
        self._done = 0
        self._lock = threading.Lock()

    def line(self, text: str) -> bool:
        """Take one line of pg_restore's stderr; whether it was progress chatter only."""
        with self._lock:
            if text == _PARALLEL:
                self._parallel = True
            elif match := _LAUNCHED.match(text):
                self._started.add(int(match.group(1)))
            elif match := _FINISHED.match(text):
                self._finished.add(int(match.group(1)))
            elif match := _PROCESSING.match(text):
                dump_id = self._ids.get(match.group(1))
                self._serial_end()
                if dump_id is not None:
                    self._started.add(dump_id)
            else:
                self._serial_end()
        return bool(_CHATTER.match(text))

    def copying(self, processed: int) -> None:
        """The bytes the COPYs running now have taken (pg_stat_progress_copy)."""
        with self._lock:
            self._copying = processed

    def finish(self) -> None:
        """pg_restore ended well: every table's data is in."""
        with self._lock:
            self._finished.update(self._sizes)

    def done(self) -> int:
        """The bytes of table data loaded; never less than an earlier answer."""
        with self._lock:
            whole = sum(self._sizes.get(dump_id, 0) for dump_id in self._finished)
            loading = sum(self._sizes.get(i, 0) for i in self._started - self._finished)
            self._done = max(self._done, min(whole + min(self._copying, loading), self.total))
            return self._done

    def _serial_end(self) -> None:
        # Run serially, pg_restore says nothing when a table's data ends: its next line does.
        if not self._parallel:
            self._finished.update(self._started)


@contextlib.contextmanager
def watching(
    params: source.SourceParams,
    database: str,
    advance: Advance,
    report: Callable[[int], object],
    *,
    interval: float = POLL_INTERVAL,
) -> Iterator[None]:
    """While the block runs, every `interval` seconds: the COPYs' bytes in `database` (as
    `params`' user, who sees its own sessions' rows) into `advance`, then `report(done)`."""
    stop = threading.Event()

    def loop() -> None:
        polling = True
        while not stop.wait(interval):
            if polling:
                polling = _poll(params, database, advance)
            try:
                report(advance.done())
            except Exception:  # a missed report is no reason to stop the restore
                log.warning("restore progress not written", exc_info=True)

    thread = threading.Thread(target=loop, name="pg_restore-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _poll(params: source.SourceParams, database: str, advance: Advance) -> bool:
    """One look at pg_stat_progress_copy; False when it cannot be read (not again, then)."""
    try:
        rows = target.execute(params, database, COPYING, database)
    except errors.RestoreError as exc:
        log.info("pg_restore progress from its output only: %s", exc)
        return False
    advance.copying(int(str(rows[0][0])) if rows else 0)
    return True
