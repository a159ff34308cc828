"""Queries on the jobs table.

Every write is one statement whose WHERE clause carries the allowed transition, so concurrent
workers serialize on the row lock and a finished job (completed, failed, cancelled) never
changes again.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal, null, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from db import models
from worker import errors

Job = models.Job
Status = models.JobStatus
ERROR_MAX_CHARS = 4000  # a jobs row is read by the gateway on every poll; keep it small


def _unfinished() -> ColumnElement[bool]:
    return Job.status.in_(models.UNFINISHED)


def _error_text(error: str) -> str:
    return error if len(error) <= ERROR_MAX_CHARS else error[: ERROR_MAX_CHARS - 1] + "…"


def create_job(
    session: Session,
    *,
    job_id: uuid.UUID,
    type: str,
    project_id: str,
    payload: Mapping[str, Any],
    celery_task_id: str | None,
) -> models.Job:
    """Insert a pending job, or return the row that already has this id or celery_task_id."""
    if type not in set(models.JobType):
        raise errors.InputError(f"unknown job type {type!r}")
    inserted = session.scalars(
        pg_insert(Job)
        .values(
            id=job_id,
            type=type,
            project_id=project_id,
            payload=dict(payload),
            celery_task_id=celery_task_id,
        )
        .on_conflict_do_nothing()
        .returning(Job)
    ).one_or_none()
    if inserted is not None:
        return inserted
    # ON CONFLICT waited for any concurrent inserter to commit, so the row is visible now.
    existing = get_job(session, job_id)
    if existing is None and celery_task_id is not None:
        existing = session.scalars(
            select(Job)
            .where(Job.celery_task_id == celery_task_id)
            .execution_options(populate_existing=True)
        ).one_or_none()
    if existing is None:
        raise errors.JobStateError(f"job {job_id} conflicted on insert but is gone: deleted?")
    return existing


def get_job(session: Session, job_id: uuid.UUID, *, for_update: bool = False) -> models.Job | None:
    """The job with this id, freshly read; `for_update` locks the row to the transaction's end."""
    query = select(Job).where(Job.id == job_id).execution_options(populate_existing=True)
    return session.scalars(query.with_for_update() if for_update else query).one_or_none()


def list_jobs(
    session: Session,
    *,
    project_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[models.Job]:
    """Jobs newest first, optionally of one project and/or one status."""
    if limit < 1 or offset < 0:
        raise errors.InputError("limit must be at least 1 and offset at least 0")
    query = select(Job).order_by(Job.created_at.desc(), Job.id.desc()).limit(limit).offset(offset)
    if project_id is not None:
        query = query.where(Job.project_id == project_id)
    if status is not None:
        query = query.where(Job.status == status)
    return list(session.scalars(query))


def claim_job(
    session: Session, job_id: uuid.UUID, *, hostname: str, payload: Mapping[str, Any]
) -> bool:
    """Reserve a pending job nobody claimed yet for this host's chain, merging in `payload`.

    False when another delivery already claimed it, or it is running, finished or missing.
    """
    return _update(
        session,
        job_id,
        Job.status == Status.PENDING.value,
        Job.worker_hostname.is_(None),
        worker_hostname=hostname,
        payload=Job.payload.op("||")(literal(dict(payload), JSONB)),
    )


def start_job(
    session: Session, job_id: uuid.UUID, *, hostname: str, max_attempts: int
) -> models.Job | None:
    """Claim a pending (or redelivered running) job for this host; check the returned status.

    Each claim counts one attempt. A claim that would exceed `max_attempts` ends the job
    `failed` instead. None if the job does not exist; a finished job comes back unchanged.
    """
    if max_attempts < 1:
        raise errors.InputError("max_attempts must be at least 1")
    gives_up = Job.attempts >= max_attempts

    def unless_giving_up(claimed: object, kept: object) -> ColumnElement[object]:
        return case((gives_up, kept), else_=claimed)

    started = session.scalars(
        update(Job)
        .where(Job.id == job_id, _unfinished())
        .values(
            status=unless_giving_up(literal(Status.RUNNING.value), literal(Status.FAILED.value)),
            attempts=unless_giving_up(Job.attempts + 1, Job.attempts),
            started_at=unless_giving_up(func.coalesce(Job.started_at, func.now()), Job.started_at),
            heartbeat_at=unless_giving_up(func.now(), Job.heartbeat_at),
            worker_hostname=unless_giving_up(literal(hostname), Job.worker_hostname),
            finished_at=unless_giving_up(Job.finished_at, func.now()),
            # A note left for the waiting job (why it was put back) is history once it runs.
            error=unless_giving_up(
                null(),
                func.concat(
                    "gave up after ",
                    Job.attempts,
                    " attempts: the job kept being started without finishing"
                    " (worker lost, or the task redelivered)",
                ),
            ),
        )
        .returning(Job)
        .execution_options(populate_existing=True)
    ).one_or_none()
    return started if started is not None else get_job(session, job_id)


def note_pending(session: Session, job_id: uuid.UUID, note: str) -> bool:
    """Say in `error` why a pending job waits (e.g. a retry after a full spool).

    The job is not failed: start_job clears the note when the next attempt begins.
    """
    return _update(session, job_id, Job.status == Status.PENDING.value, error=_error_text(note))


def _update(
    session: Session, job_id: uuid.UUID, *where: ColumnElement[bool], **values: object
) -> bool:
    changed = session.scalars(
        update(Job).where(Job.id == job_id, *where).values(**values).returning(Job.id)
    ).one_or_none()
    return changed is not None


def set_progress(
    session: Session,
    job_id: uuid.UUID,
    *,
    stage: str,
    progress: int,
    done: int | None = None,
    total: int | None = None,
) -> bool:
    """Record the stage and progress of a running job; progress never goes backwards. `done`
    and `total` are the stage's bytes (None: the stage has no amount, or it is not known)."""
    if not 0 <= progress <= 100:
        raise errors.InputError(f"progress must be within 0..100, not {progress}")
    return _update(
        session,
        job_id,
        Job.status == Status.RUNNING,
        stage=stage,
        progress=func.greatest(Job.progress, progress),
        bytes_done=done,
        bytes_total=total,
        heartbeat_at=func.now(),
    )


def heartbeat(session: Session, job_id: uuid.UUID) -> None:
    """Tell the stale-job sweep that the worker running this job is alive."""
    _update(session, job_id, Job.status == Status.RUNNING, heartbeat_at=func.now())


def merge_result(
    session: Session, job_id: uuid.UUID, patch: Mapping[str, Any], *, under: str | None = None
) -> None:
    """Merge `patch` into the job's result with jsonb `||` (top-level keys are replaced).

    With `under`, merge into the object at result[under] instead, so that e.g. parts uploaded
    one at a time accumulate under result["parts"]. Raises JobStateError for a finished job.
    """
    current = func.coalesce(Job.result, literal({}, JSONB))
    patch_value = literal(dict(patch), JSONB)
    if under is None:
        merged = current.op("||")(patch_value)
    else:
        inner = func.coalesce(current.op("->")(under), literal({}, JSONB)).op("||")(patch_value)
        merged = current.op("||")(func.jsonb_build_object(under, inner))
    if not _update(session, job_id, _unfinished(), result=merged):
        raise errors.JobStateError(f"job {job_id} is finished or does not exist")


def complete_job(
    session: Session,
    job_id: uuid.UUID,
    result: Mapping[str, Any],
    *,
    replace: bool = False,
    stage: str | None = None,
) -> bool:
    """Mark a pending/running job completed, merging `result` into what it already holds.

    With `replace`, the result becomes exactly `result` (working state such as spool paths
    is dropped). `stage`, when given, is the stage the job ends in.
    """
    new = literal(dict(result), JSONB)
    merged = new if replace else func.coalesce(Job.result, literal({}, JSONB)).op("||")(new)
    staged = {} if stage is None else {"stage": stage}
    return _finish(session, job_id, Status.COMPLETED, progress=100, result=merged, **staged)


def fail_job(session: Session, job_id: uuid.UUID, error: str) -> bool:
    """Mark a pending/running job failed with an operator-readable, secret-free error."""
    return _finish(session, job_id, Status.FAILED, error=_error_text(error))


def cancel_job(session: Session, job_id: uuid.UUID, reason: str | None = None) -> bool:
    """Mark a pending/running job cancelled."""
    return _finish(
        session, job_id, Status.CANCELLED, error=None if reason is None else _error_text(reason)
    )


def _finish(session: Session, job_id: uuid.UUID, status: Status, **values: object) -> bool:
    return _update(
        session, job_id, _unfinished(), status=status.value, finished_at=func.now(), **values
    )


def stale_jobs(session: Session, *, older_than: dt.timedelta, limit: int = 100) -> list[models.Job]:
    """Running jobs whose heartbeat is older than `older_than`, the stalest first.

    The rows are locked (SKIP LOCKED) until the transaction ends, so two sweeps running at
    once do not both pick up the same job.
    """
    return list(
        session.scalars(
            select(Job)
            .where(Job.status == Status.RUNNING, Job.heartbeat_at < func.now() - older_than)
            .order_by(Job.heartbeat_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    )
