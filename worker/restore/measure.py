"""The restore stage's progress while pg_restore runs: its table data loaded, in bytes.

worker/postgres/advance.py measures; this writes the measure into the jobs row, through the
job's throttled reporter (at most a write a second). The table data takes the stage's first
90 %: what pg_restore does after it (indexes, constraints) and the check take the rest, and
have no amount to show.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from worker.jobs import progress
from worker.jobs.runtime import Runtime
from worker.postgres import advance, source, toc
from worker.restore import job as rj

log = logging.getLogger(__name__)

DATA_SHARE = 0.9  # of the restore stage, for the table data
AFTER_DATA = 0.95  # of the restore stage, once pg_restore ended


@contextlib.contextmanager
def loading(
    rt: Runtime, job_id: uuid.UUID, params: source.SourceParams, database: str, archive: Path
) -> Iterator[Callable[[str], bool]]:
    """While the block runs pg_restore into `database`, write how far it is; yields the
    callback for pg_restore's stderr lines (pgrestore.running's `on_line`)."""
    measure = advance.Advance(_tables(archive))
    total = measure.total
    reporter = rj.reporter(rt, job_id, rj.RESTORE)

    def report(done: int, share: float = DATA_SHARE, *, force: bool = False) -> None:
        fraction = share * done / total if total else 0.0
        reporter.update("restore", fraction, progress.Amount(done, total), force=force)

    interval = rt.settings.job_progress_interval
    with advance.watching(params, database, measure, report, interval=interval):
        yield measure.line
    measure.finish()
    report(measure.done(), AFTER_DATA, force=True)  # the end, however soon after the last


def _tables(archive: Path) -> list[toc.Table]:
    try:
        return toc.tables(archive)
    except (OSError, EOFError, toc.Unsupported) as exc:  # the restore goes on without a measure
        log.warning("no progress for pg_restore: cannot read the archive's contents (%s)", exc)
        return []
