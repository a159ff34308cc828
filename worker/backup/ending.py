"""How a backup job ends badly: failed for good, or handed back for a later attempt."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from kombu import exceptions as kombu_errors

from db import models
from db.queries import jobs as db_jobs
from db.queries import stale as db_stale
from worker import errors
from worker.contract import publish
from worker.jobs import owner, spool, state
from worker.jobs import retry as retry_policy
from worker.jobs.runtime import Runtime

log = logging.getLogger(__name__)


@contextlib.contextmanager
def full_spool_retried(message: Callable[[], str], attempt: int) -> Iterator[None]:
    """Raise SpoolFull (retried later) for a write that found the spool's filesystem full."""
    try:
        yield
    except (errors.SpoolError, OSError) as exc:
        cause = exc.__cause__ if isinstance(exc, errors.SpoolError) else exc
        if isinstance(cause, OSError) and cause.errno in errors.SPOOL_FULL_ERRNOS:
            raise errors.SpoolFull(message(), attempt=attempt) from exc
        raise


def fail(rt: Runtime, job_id: uuid.UUID, exc: BaseException) -> str:
    """End the job failed with a secret-free message, clean its spool and its sent parts."""
    with rt.database.transaction() as session:
        job = db_jobs.get_job(session, job_id)
        message = _failure(rt, exc, job)
        changed = db_jobs.fail_job(session, job_id, message)
        uploaded = state.BackupState.of(job).uploaded if job is not None else {}
    spool.remove(rt, job_id)
    if changed and uploaded and not isinstance(exc, errors.TelegramUnauthorized):
        owner.delete_sent_parts(rt, uploaded)
    return message


def _failure(rt: Runtime, exc: BaseException, job: models.Job | None) -> str:
    if not isinstance(exc, errors.BackupWorkerError):
        return f"internal error ({type(exc).__name__}); the worker log has the details"
    if not retry_policy.transient(exc) or job is None:
        return exc.message
    if not isinstance(exc, errors.SpoolFull):
        return (
            f"{exc.message}; gave up after {job.attempts} attempt(s) "
            f"(BACKUP_MAX_ATTEMPTS={rt.settings.backup_max_attempts})"
        )
    retries = state.BackupState.of(job).spool_full_retries
    return (
        f"{exc.message}; gave up after {job.attempts} attempt(s) (BACKUP_MAX_ATTEMPTS="
        f"{rt.settings.backup_max_attempts}), retried {retries} time(s) after a full spool, "
        f"{rt.settings.backup_spool_retry_delay} s apart: free space there or point "
        "BACKUP_SPOOL_DIR at a larger disk, then start the backup again"
    )


def retry_later(
    rt: Runtime,
    job_id: uuid.UUID,
    exc: Exception,
    *,
    hostname: str,
    publisher: publish.Publisher,
) -> str | None:
    """Hand the job back as the reaper does (pending, unclaimed) and send backups.create again
    after the delay worker.jobs.retry gives `exc`, so any worker may dump it anew; None: no
    attempts left (or `exc` is not worth one).

    Returns the note for the log. A stale attempt returns a note and touches nothing.
    """
    if not isinstance(exc, errors.BackupWorkerError) or not retry_policy.transient(exc):
        return None
    most = rt.settings.backup_max_attempts
    with rt.database.transaction() as session:
        try:
            owner.still_ours(session, job_id, hostname, getattr(exc, "attempt", None))
        except errors.AttemptSuperseded as stale:
            what = "its full spool" if isinstance(exc, errors.SpoolFull) else "its failure"
            return f"{stale.message}; {what} is not retried"
        job = db_jobs.get_job(session, job_id)
        again = state.BackupPayload.rerun(job) if job is not None else None
        if job is None or again is None or job.attempts >= most:
            return None
        now = state.BackupState.of(job)
        delay = retry_policy.delay(exc, job.attempts, rt.settings)
        due = datetime.now(UTC) + timedelta(seconds=delay)
        note = f"retrying in {delay} s on any worker (attempt {job.attempts} of {most}): "
        state.save(
            session,
            job_id,
            state.BackupPatch(
                artifact=None,
                uploaded={},
                spool_full_retries=now.spool_full_retries + isinstance(exc, errors.SpoolFull),
                retry_at=due.isoformat(),
            ),
        )
        db_stale.requeue_job(session, job_id, from_hostname=hostname)
        db_jobs.note_pending(session, job_id, note + exc.message)
    spool.remove(rt, job_id)
    if now.uploaded:
        owner.delete_sent_parts(rt, now.uploaded)
    try:
        publisher.send(again, countdown=delay)
    except kombu_errors.OperationalError as lost:
        # The job waits pending and unclaimed: the reaper sends it again once it is due.
        log.warning("job %s: backups.create not sent again (%s); the reaper will", job_id, lost)
    return note + exc.message
