"""The step runner: one step of a job, alone, beating, and failing the job on an error.

Every step of every chain (backup, restore, verify) runs through `run`: it takes the job's
advisory lock (`exclusive`), beats the jobs row while the step runs, and ends the job failed
with a clear message when the step raises. Plain job logic, no Celery: tasks/steps.py holds
the Celery glue, and the tasks call `run` with their step and its failure handler.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator

from sqlalchemy import text

from db.queries import jobs as db_jobs
from worker import errors
from worker.jobs import progress, runtime
from worker.jobs import retry as retry_policy

log = logging.getLogger(__name__)

Step = Callable[[runtime.Runtime, uuid.UUID], None]
Fail = Callable[[runtime.Runtime, uuid.UUID, BaseException], str]
# Puts the job back for a later attempt; returns a note for the log, or None: fail it instead.
Retry = Callable[[runtime.Runtime, uuid.UUID, Exception], str | None]


def _beat(rt: runtime.Runtime, job_id: uuid.UUID) -> None:
    with rt.database.transaction() as session:
        db_jobs.heartbeat(session, job_id)


@contextlib.contextmanager
def exclusive(rt: runtime.Runtime, job_id: uuid.UUID) -> Iterator[bool]:
    """Hold the job's advisory lock for the step; yields False when another copy holds it.

    A step's message comes back while the step still runs when Redis's visibility timeout
    passes (or a sweeper with a shorter one runs): the copy must not start the step a second
    time beside the first. The lock is a session lock on a connection of its own, so a copy
    whose process dies releases it with its connection.
    """
    key = int.from_bytes(job_id.bytes[:8], "big", signed=True)
    with rt.database.engine.connect() as conn:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()
        try:
            yield got
        finally:
            if got:
                with contextlib.suppress(Exception):  # a lost connection released it already
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()


def run(job_id: str, step: Step, fail: Fail, retry: Retry | None = None) -> str:
    """Run one step; on an error end the job failed (via `fail`) and raise JobFailed.

    A transient failure (worker.jobs.retry) goes to `retry` first, when given, which may hand
    the job back for a later attempt. A lost control-plane database raises
    ControlPlaneUnavailable: nothing about the job can be written, so the caller runs the same
    step again (the task layer re-sends its message).
    """
    rt = runtime.current()
    jid = uuid.UUID(job_id)
    try:
        with exclusive(rt, jid) as alone:
            if not alone:
                log.warning("job %s: another copy of this step is running; this copy stops", jid)
                return job_id
            # Every step beats, not only the dump: an upload or download waiting out Telegram's
            # 429s makes no progress for a while, and a silent job is re-run by the reaper.
            with progress.heartbeat(lambda: _beat(rt, jid), rt.settings.job_heartbeat_stale / 4):
                step(rt, jid)
    except errors.PacerDeferred:
        raise  # not a failure: the task runs the step again by its slot (tasks/backup.py)
    except errors.AttemptSuperseded as exc:
        # Not a failure: the job lives on in its newer attempt, which owns spool and row.
        log.warning("job %s: %s; this step stops here", jid, exc.message)
    except Exception as exc:
        if retry_policy.control_plane_lost(exc):
            raise _unreachable(exc) from exc
        try:
            transient = retry is not None and retry_policy.transient(exc)
            note = retry(rt, jid, exc) if retry is not None and transient else None
            if note is None:
                raise _failed(rt, jid, exc, fail) from None
        except retry_policy.CONTROL_PLANE_LOST as lost:
            raise _unreachable(lost) from lost
        log.warning("job %s: %s", jid, note)
    return job_id


def _unreachable(exc: BaseException) -> errors.ControlPlaneUnavailable:
    return errors.ControlPlaneUnavailable(
        f"the control-plane database could not be reached ({type(exc).__name__})"
    )


def _failed(rt: runtime.Runtime, jid: uuid.UUID, exc: Exception, fail: Fail) -> errors.JobFailed:
    """End the job failed (called while handling `exc`); the error for the task to raise."""
    message = fail(rt, jid, exc)
    if isinstance(exc, errors.BackupWorkerError):
        log.error("job %s failed: %s", jid, message)
    else:
        log.exception("job %s failed with an unexpected error", jid)
    return errors.JobFailed(message)
