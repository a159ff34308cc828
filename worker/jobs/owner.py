"""Which attempt owns a job, its progress writes, removing parts it sent.

A job can be run again (the reaper after a lost worker, a retry after a full spool): each step
checks that it belongs to the job's current attempt before it touches the row or the spool.
Backup and restore steps share these.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping

from sqlalchemy.orm import Session

from db import models
from db.queries import jobs as db_jobs
from worker import errors
from worker.jobs import progress, state
from worker.jobs.runtime import Runtime

log = logging.getLogger(__name__)


def current_attempt(
    rt: Runtime, job_id: uuid.UUID, hostname: str, *, stage: tuple[str, int]
) -> models.Job | None:
    """The job when this step belongs to its current attempt, with `stage` written; else None."""
    with rt.database.transaction() as session:
        job = current_attempt_in(session, job_id, hostname)
        if job is None:
            return None
        db_jobs.set_progress(session, job_id, stage=stage[0], progress=stage[1])
        session.expunge(job)
        return job


def running_in(session: Session, job_id: uuid.UUID) -> models.Job | None:
    """The job when it is running; None, logged, when it is finished (the step is skipped)."""
    job = db_jobs.get_job(session, job_id)
    if job is None:
        raise errors.NotFoundError(f"job {job_id} does not exist")
    if job.status != models.JobStatus.RUNNING:
        log.info("job %s is %s: step skipped", job_id, job.status)
        return None
    return job


def current_attempt_in(session: Session, job_id: uuid.UUID, hostname: str) -> models.Job | None:
    """The job when this step belongs to its current attempt, else None (skip the step).

    A step can outlive its attempt: its worker stopped with the step still queued, the reaper
    ran the job again elsewhere (or here, from a fresh dump), and the worker came back. Such a
    stale step must neither fail nor feed the new attempt.
    """
    job = running_in(session, job_id)
    if job is None:
        return None
    if job.worker_hostname != hostname or not state.has_artifact(job):
        log.warning("job %s: a newer attempt owns it, stale step skipped", job_id)
        return None
    return job


def reporter(
    rt: Runtime,
    job_id: uuid.UUID,
    stages: Mapping[str, tuple[int, int]] = progress.STAGES,
) -> progress.Reporter:
    """A throttled progress reporter writing the job's stage and progress into its row."""

    def write(stage: str, value: int, amount: progress.Amount | None) -> None:
        done, total = (None, None) if amount is None else (amount.done, amount.total)
        with rt.database.transaction() as session:
            db_jobs.set_progress(
                session, job_id, stage=stage, progress=value, done=done, total=total
            )

    return progress.Reporter(write, stages=stages, interval=rt.settings.job_progress_interval)


def still_ours(session: Session, job_id: uuid.UUID, hostname: str, attempt: int | None) -> None:
    """Raise AttemptSuperseded when the reaper handed the job to a newer attempt meanwhile
    (`attempt` None: whichever attempt this host runs)."""
    job = db_jobs.get_job(session, job_id, for_update=True)
    if job is None or job.status != models.JobStatus.RUNNING:
        raise errors.AttemptSuperseded(f"job {job_id} is no longer running")
    if job.worker_hostname != hostname or attempt not in (None, job.attempts):
        raise errors.AttemptSuperseded(
            f"job {job_id} is now attempt {job.attempts} on {job.worker_hostname}"
        )


def delete_sent_parts(rt: Runtime, uploaded: Mapping[str, Mapping[str, object]]) -> None:
    """Delete the messages of parts that will never be recorded (best effort: logged only)."""
    try:
        for part in uploaded.values():
            bot = part.get("bot_id")
            client = rt.telegram(None if bot is None else str(bot))
            client.delete_message(str(part["chat_id"]), int(str(part["message_id"])))
    except (errors.TelegramError, errors.ConfigError) as exc:
        log.warning("could not delete the parts of a failed backup: %s", exc)
