"""Queries of the reaper: jobs whose worker went silent, and spool dirs of finished jobs.

Writes follow db.queries.jobs: one statement whose WHERE carries the allowed transition. The one
transition back, running (or claimed) -> pending, exists for the reaper only: it hands a job
whose host died to another worker, which claims it with db.queries.jobs.claim_job as usual.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, aliased

from db import models

Job = models.Job
Status = models.JobStatus


def claimed_pending_jobs(
    session: Session, *, older_than: dt.timedelta, limit: int = 100
) -> list[models.Job]:
    """Pending jobs a host claimed (worker_hostname set) but never started, locked.

    backups.create claims the job, then sends the chain to its own queue; a host that dies in
    between leaves the job claimed by nobody alive. A host that still heartbeats for another
    job is alive and merely busy (its queue waits for a free process): its claims stay.
    """
    busy = aliased(Job)
    host_alive = (
        select(busy.id)
        .where(
            busy.worker_hostname == Job.worker_hostname,
            busy.status == Status.RUNNING.value,
            busy.heartbeat_at >= func.now() - older_than,
        )
        .exists()
    )
    return list(
        session.scalars(
            select(Job)
            .where(
                Job.status == Status.PENDING.value,
                Job.worker_hostname.is_not(None),
                Job.updated_at < func.now() - older_than,
                ~host_alive,
            )
            .order_by(Job.updated_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    )


def live_hosts(session: Session, *, older_than: dt.timedelta) -> set[str]:
    """Hosts that heartbeat for a running job within `older_than`: alive, maybe busy.

    A running job between two steps has no step to beat for it: its next step waits in the
    host's own queue behind other jobs' steps. On a live host that is a queue, not a loss.
    """
    return set(
        session.scalars(
            select(Job.worker_hostname)
            .where(
                Job.status == Status.RUNNING.value,
                Job.worker_hostname.is_not(None),
                Job.heartbeat_at >= func.now() - older_than,
            )
            .distinct()
        )
    )


def lost_pending_jobs(
    session: Session, *, job_type: str, older_than: dt.timedelta, limit: int = 100
) -> list[models.Job]:
    """Pending jobs nobody claimed for `older_than`, locked: their message may be lost.

    A broker that restarts without persistence loses the queued backups.create messages of
    jobs the gateway (or a batch, or the dispatcher) inserted. Sending one again is harmless
    when the first still waits: only one delivery can claim the job.
    """
    return list(
        session.scalars(
            select(Job)
            .where(
                Job.type == job_type,
                Job.status == Status.PENDING.value,
                Job.worker_hostname.is_(None),
                Job.updated_at < func.now() - older_than,
            )
            .order_by(Job.updated_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def touch(session: Session, job_id: uuid.UUID) -> None:
    """Mark a lost pending job as sent again now (so it is not re-sent on every run)."""
    session.execute(update(Job).where(Job.id == job_id).values(updated_at=func.now()))


def requeue_job(session: Session, job_id: uuid.UUID, *, from_hostname: str | None) -> bool:
    """Hand a dead host's job back: pending, unclaimed, progress from zero.

    Only while it is still held by `from_hostname` (the reaper's snapshot): a worker that
    claimed or finished it meanwhile wins.
    """
    changed = session.scalars(
        update(Job)
        .where(
            Job.id == job_id,
            Job.status.in_(models.UNFINISHED),
            Job.worker_hostname.is_not_distinct_from(from_hostname),
        )
        .values(
            status=Status.PENDING.value,
            worker_hostname=None,
            stage=None,
            progress=0,
            heartbeat_at=None,
        )
        .returning(Job.id)
    ).one_or_none()
    return changed is not None


def finished_or_unknown(session: Session, job_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """The ids among `job_ids` whose job is finished or does not exist (spool to clean)."""
    ids = set(job_ids)
    if not ids:
        return set()
    alive = set(
        session.scalars(select(Job.id).where(Job.id.in_(ids), Job.status.in_(models.UNFINISHED)))
    )
    return ids - alive


def held_by(session: Session, hostname: str, job_types: Iterable[str]) -> list[uuid.UUID]:
    """The ids of the jobs of `job_types` that `hostname` holds: running there, or claimed by
    it and not started (their chain's first message on its way, or lost)."""
    return list(
        session.scalars(
            select(Job.id)
            .where(
                Job.worker_hostname == hostname,
                Job.type.in_(list(job_types)),
                Job.status.in_([Status.RUNNING.value, Status.PENDING.value]),
            )
            .order_by(Job.created_at)
        )
    )


def quiet_hosts(
    session: Session, *, older_than: dt.timedelta, job_types: Iterable[str]
) -> set[str]:
    """The hosts holding a job of `job_types` (running, or claimed and not started) whose row
    has not changed for `older_than`: between two steps, or its next step's message lost."""
    return set(
        session.scalars(
            select(Job.worker_hostname)
            .where(
                Job.worker_hostname.is_not(None),
                Job.type.in_(list(job_types)),
                Job.status.in_([Status.RUNNING.value, Status.PENDING.value]),
                Job.updated_at < func.now() - older_than,
            )
            .distinct()
        )
    )
