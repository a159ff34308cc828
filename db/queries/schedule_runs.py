"""schedule_runs: the dispatcher's exactly-once record of each (schedule, slot, database), and
its pruning.

record_runs writes a due slot's pending jobs, its runs and the schedule's next slot in one go;
a run already recorded keeps its first job, so two dispatchers never enqueue it twice. A
schedule of one database has one run per slot (database ''); a schedule of every database
(`*`) one per database of its server. The
sweep prunes old runs (prune_runs) without ever letting a slot run again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Uuid,
    and_,
    column,
    delete,
    exists,
    func,
    literal_column,
    select,
    tuple_,
    update,
    values,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from db import models, schedule_models

Schedule = schedule_models.BackupSchedule
Job = models.Base.metadata.tables[f"{models.SCHEMA}.jobs"]
Run = models.Base.metadata.tables[f"{models.SCHEMA}.schedule_runs"]

# How long a dispatched run is kept, counted from its slot. A slot is enqueued a second time
# only if the schedule's next_run_at points back at it, and every writer here sets next_run_at
# after now() (dispatch: the first slot after now; add, update, enable: the next one from now).
# Only a database clock stepped back or a next_run_at written by hand (a gateway, a partial
# restore of backup_schedules) can point it back, and not by a month. Dispatch itself looks
# back only to next_run_at, whose slot becomes the schedule's newest run: kept at any age.
RUN_RETENTION = dt.timedelta(days=30)


@dataclasses.dataclass(frozen=True)
class NewRun:
    """One slot of one schedule, and the job that backs it up (`payload`: the jobs row's JSON)."""

    schedule_id: uuid.UUID
    scheduled_for: dt.datetime
    job_id: uuid.UUID
    next_run_at: dt.datetime
    project_id: str
    payload: Mapping[str, object]
    database: str = ""  # a `*` schedule's run: the database it backs up; '' otherwise


def record_runs(
    session: Session,
    runs: Sequence[NewRun],
    *,
    empty: Sequence[tuple[uuid.UUID, dt.datetime]] = (),
) -> set[uuid.UUID]:
    """Insert the pending jobs, the runs and advance the schedules; returns the new job ids.

    A run already recorded for its (schedule, slot, database) keeps its first job: its id is
    not returned, so nothing is enqueued twice. `empty`: (schedule, next slot) of schedules
    whose due slot had nothing to back up (a `*` schedule that found no database to take),
    moved on all the same.
    """
    moves: dict[uuid.UUID, tuple[dt.datetime, uuid.UUID | None]] = {
        run.schedule_id: (run.next_run_at, run.job_id) for run in runs
    }
    moves.update((schedule_id, (next_run_at, None)) for schedule_id, next_run_at in empty)
    inserted = _insert(session, runs) if runs else []
    if moves:
        _advance(session, moves)
    return {job_id for job_id in inserted if job_id is not None}


def _insert(session: Session, runs: Sequence[NewRun]) -> Sequence[uuid.UUID | None]:
    # executemany forms: compiled once, sent as multi-row VALUES pages (insertmanyvalues).
    session.execute(
        pg_insert(Job).on_conflict_do_nothing(),
        [
            {
                "id": run.job_id,
                "type": models.JobType.BACKUP.value,
                "project_id": run.project_id,
                "payload": dict(run.payload),
            }
            for run in runs
        ],
    )
    return session.scalars(
        pg_insert(Run).on_conflict_do_nothing().returning(Run.c.job_id),
        [
            {
                "schedule_id": run.schedule_id,
                "scheduled_for": run.scheduled_for,
                "database": run.database,
                "job_id": run.job_id,
            }
            for run in runs
        ],
    ).all()


def _advance(
    session: Session, moves: Mapping[uuid.UUID, tuple[dt.datetime, uuid.UUID | None]]
) -> None:
    advanced = values(
        column("id", Uuid),
        column("next_run_at", DateTime(timezone=True)),
        column("job_id", Uuid),
        name="advanced",
    ).data([(schedule_id, *move) for schedule_id, move in moves.items()])
    session.execute(
        update(Schedule)
        .where(Schedule.id == advanced.c.id)
        .values(
            next_run_at=advanced.c.next_run_at,
            last_run_at=func.now(),
            last_job_id=func.coalesce(advanced.c.job_id, Schedule.last_job_id),
        )
    )


def runs_of(session: Session, schedule_id: uuid.UUID) -> list[schedule_models.ScheduleRun]:
    """The schedule's dispatched runs, oldest first."""
    return list(
        session.scalars(
            select(schedule_models.ScheduleRun)
            .where(schedule_models.ScheduleRun.schedule_id == schedule_id)
            .order_by(schedule_models.ScheduleRun.scheduled_for)
        )
    )


# Where a pass of prune_runs has got to: the key (scheduled_for, schedule_id, database) of the
# last run it looked at.
Cursor = tuple[dt.datetime, uuid.UUID, str]


def _key() -> tuple[ColumnElement[object], ...]:
    return (Run.c.scheduled_for, Run.c.schedule_id, Run.c.database)


@dataclasses.dataclass(frozen=True)
class PruneBatch:
    """One step of prune_runs: how many old runs it looked at and deleted, and where it ended."""

    scanned: int
    deleted: int
    last: Cursor | None


def _prunable() -> ColumnElement[bool]:
    """Whether the run in Run's row may go, besides being older than RUN_RETENTION.

    - A newer run of its schedule exists: the newest run stays whatever its age. A schedule's
      last slot can be far older than RUN_RETENTION (a catch-up after downtime runs its oldest
      missed slot; a yearly schedule), and it is the slot a stale next_run_at, one written
      before that dispatch, would point at. Only the newest row has no newer one, so two sweeps
      at once cannot delete both rows of a pair.
    - Its job is finished or gone: a job still pending or running may yet make a backup.
    - Its job has no active backup: db.queries.expiry.retention_sets finds a schedule's backups
      through
      its runs, so without the run GFS would no longer expire that backup.
    """
    newer = Run.alias("newer")
    backup = models.Backup
    return and_(
        exists().where(
            newer.c.schedule_id == Run.c.schedule_id, newer.c.scheduled_for > Run.c.scheduled_for
        ),
        ~exists().where(
            Job.c.id == Run.c.job_id,
            Job.c.status.in_((models.JobStatus.PENDING.value, models.JobStatus.RUNNING.value)),
        ),
        ~exists().where(
            backup.job_id == Run.c.job_id, backup.status == models.BackupStatus.ACTIVE.value
        ),
    )


def prune_runs(session: Session, *, after: Cursor | None = None, limit: int) -> PruneBatch:
    """Delete the prunable runs among the next `limit` runs older than RUN_RETENTION.

    Runs are taken in key order (scheduled_for, schedule_id, database) after `after`, the
    `last` of the previous batch: runs that must stay are looked at once per pass, not once
    per batch.
    """
    ctid: ColumnElement[str] = literal_column(f"{models.SCHEMA}.schedule_runs.ctid")
    old = Run.c.scheduled_for < func.now() - RUN_RETENTION
    if after is not None:
        old = and_(old, tuple_(*_key()) > tuple_(*after))
    scanned = (
        select(
            ctid.label("ctid"),
            *_key(),
            _prunable().label("prunable"),
        )
        .where(old)
        .order_by(*_key())
        .limit(limit)
        .cte("scanned")
    )
    chosen = select(scanned.c.ctid).where(scanned.c.prunable).scalar_subquery()
    # By ctid: a TID scan of the chosen rows; a join on the key let the planner hash the
    # whole table instead.
    gone = (
        delete(Run)
        .where(ctid == func.any(func.array(chosen)))
        .returning(Run.c.schedule_id)
        .cte("gone")
    )
    key = (scanned.c.scheduled_for, scanned.c.schedule_id, scanned.c.database)
    last = select(*key).order_by(*(part.desc() for part in key))
    count_scanned, count_gone, last_slot, last_schedule, last_database = session.execute(
        select(
            select(func.count()).select_from(scanned).scalar_subquery(),
            select(func.count()).select_from(gone).scalar_subquery(),
            *(last.with_only_columns(part).limit(1).scalar_subquery() for part in key),
        )
    ).one()
    end = None if last_slot is None else (last_slot, last_schedule, last_database)
    return PruneBatch(count_scanned, count_gone, end)
