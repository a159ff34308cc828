"""Queries of the expiry sweep: expiring backups, retention, and deleting their Telegram parts.

Every rule that expires backups goes through one guard: the newest active backup of each
project and database (and type) is never expired, so a project whose backups stopped still has
the last one it made, whatever its expires_at or its schedule's retention says.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Text,
    Uuid,
    column,
    func,
    or_,
    select,
    tuple_,
    update,
    values,
)
from sqlalchemy.orm import Session, aliased

from db import models, schedule_models
from db.queries import backups as db_backups

Backup = models.Backup
Part = models.BackupPart
Schedule = schedule_models.BackupSchedule
Status = models.BackupStatus
PartStatus = models.PartDeleteStatus
DELETE_LEASE = dt.timedelta(minutes=10)  # a claimed part not settled by then is tried again
ERROR_MAX_CHARS = 500


# Which backups a rule targets, written against the alias of the table it is given.
Which = Callable[[type[models.Backup]], ColumnElement[bool]]


def _newest_of_groups(which: Which) -> Select[uuid.UUID]:
    """The newest active backup of each (project, type, database) that has an active row
    matching `which`.

    One index probe per group, not per candidate row. The planner cannot know that the rows past
    their expires_at are mostly expired already (220,000 expected for 10,000 in the benchmark):
    per-row probes priced at that count took the statement past PostgreSQL's JIT thresholds,
    0.2 s of compiling in a 0.6 s sweep.
    """
    due = aliased(Backup)
    groups = (
        select(due.project_id, due.type, due.database)
        .where(due.status == Status.ACTIVE.value, which(due))
        .distinct()
        .subquery()
    )
    newest = aliased(Backup)
    newest_id = (
        select(newest.id)
        .where(
            newest.project_id == groups.c.project_id,
            newest.type == groups.c.type,
            newest.database.is_not_distinct_from(groups.c.database),
            newest.status == Status.ACTIVE.value,
        )
        .order_by(newest.created_at.desc(), newest.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return select(newest_id).select_from(groups)


def _expire(session: Session, which: Which, limit: int | None) -> list[uuid.UUID]:
    # NOT IN: a hashed set of the few newest ids. Each group comes from an active row of the
    # same snapshot, so its newest id is never NULL (which would make NOT IN expire nothing).
    chosen = select(Backup.id).where(
        Backup.status == Status.ACTIVE.value,
        which(Backup),
        Backup.id.not_in(_newest_of_groups(which)),
    )
    if limit is not None:
        # Without a limit every matching row is taken: no order to respect, no sort to pay.
        chosen = chosen.order_by(Backup.expires_at, Backup.created_at).limit(limit)
    # SKIP LOCKED: two sweeps at once split the rows instead of waiting on each other.
    chosen = chosen.with_for_update(skip_locked=True)
    return list(
        session.scalars(
            update(Backup)
            .where(db_backups.one_of_ids(chosen))
            .values(status=Status.EXPIRED.value)
            .returning(Backup.id)
        )
    )


def _past_expiry(backup: type[models.Backup]) -> ColumnElement[bool]:
    return backup.expires_at <= func.now()


def expire_due(session: Session, *, limit: int | None = None) -> list[uuid.UUID]:
    """Mark active backups past their expires_at expired (never the newest of a project)."""
    return _expire(session, _past_expiry, limit)


def expire_ids(session: Session, backup_ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    """Mark these active backups expired (never the newest of a project)."""
    ids = list(backup_ids)
    if not ids:
        return []
    return _expire(session, lambda backup: backup.id.in_(ids), None)


@dataclasses.dataclass
class RetentionSet:
    """One schedule with GFS rules and one database, and the active backups it made of it."""

    schedule_id: uuid.UUID
    database: str | None
    timezone: str
    keep: tuple[int | None, int | None, int | None, int | None]
    backups: list[tuple[uuid.UUID, dt.datetime]] = dataclasses.field(default_factory=list)


def retention_sets(session: Session) -> list[RetentionSet]:
    """Active backups made by each schedule that has GFS rules, grouped by schedule and
    database: a schedule of every database (`*`) keeps its rules for each database apart."""
    rules = (Schedule.keep_last, Schedule.keep_daily, Schedule.keep_weekly, Schedule.keep_monthly)
    rows = session.execute(
        select(
            Schedule.id, Backup.database, Schedule.timezone, *rules, Backup.id, Backup.created_at
        )
        .join(schedule_models.ScheduleRun, schedule_models.ScheduleRun.schedule_id == Schedule.id)
        .join(Backup, Backup.job_id == schedule_models.ScheduleRun.job_id)
        .where(Backup.status == Status.ACTIVE.value, or_(*(rule > 0 for rule in rules)))
        .order_by(Schedule.id, Backup.database)
    )
    sets: dict[tuple[uuid.UUID, str | None], RetentionSet] = {}
    for (
        schedule_id,
        database,
        timezone,
        last,
        daily,
        weekly,
        monthly,
        backup_id,
        created_at,
    ) in rows:
        entry = sets.setdefault(
            (schedule_id, database),
            RetentionSet(schedule_id, database, timezone, (last, daily, weekly, monthly)),
        )
        entry.backups.append((backup_id, created_at))
    return list(sets.values())


@dataclasses.dataclass(frozen=True)
class PartRef:
    """A Telegram message to delete."""

    backup_id: uuid.UUID
    index: int
    chat_id: str
    message_id: int
    attempts: int
    bot_id: str | None = None  # the bot that sent it; None: the first configured bot


@dataclasses.dataclass(frozen=True)
class PartOutcome:
    """What deleteMessage said about one part; status None = try again in a later sweep."""

    backup_id: uuid.UUID
    index: int
    status: str | None
    error: str | None = None


def claim_parts(
    session: Session, *, limit: int, backup_id: uuid.UUID | None = None
) -> list[PartRef]:
    """Parts of expired backups (or of the one `backup_id`) whose message is still to delete,
    counted as one attempt.

    A claim is a lease: a sweep that dies before settling its parts leaves them to the first
    sweep after DELETE_LEASE.
    """
    only = [] if backup_id is None else [Part.backup_id == backup_id]
    due = (
        select(Part.backup_id, Part.index)
        .join(Backup, Backup.id == Part.backup_id)
        .where(
            Backup.status == Status.EXPIRED.value,
            Part.delete_status.is_(None),
            or_(
                Part.delete_attempted_at.is_(None),
                Part.delete_attempted_at < func.now() - DELETE_LEASE,
            ),
            *only,
        )
        .order_by(Part.backup_id, Part.index)
        .limit(limit)
        .with_for_update(of=Part, skip_locked=True)
    )
    rows = session.execute(
        update(Part)
        .where(tuple_(Part.backup_id, Part.index).in_(due))
        .values(delete_attempts=Part.delete_attempts + 1, delete_attempted_at=func.now())
        .returning(
            Part.backup_id,
            Part.index,
            Part.chat_id,
            Part.message_id,
            Part.delete_attempts,
            Part.bot_id,
        )
    )
    return sorted((PartRef(*row) for row in rows), key=lambda ref: (str(ref.backup_id), ref.index))


def settle_parts(session: Session, outcomes: Sequence[PartOutcome]) -> None:
    """Record each part's fate; an outcome with status None frees the part for a later sweep."""
    if not outcomes:
        return
    settled = values(
        column("backup_id", Uuid),
        column("index", Integer),
        column("status", Text),
        column("error", Text),
        name="settled",
    ).data(
        [
            (o.backup_id, o.index, o.status, None if o.error is None else o.error[:ERROR_MAX_CHARS])
            for o in outcomes
        ]
    )
    session.execute(
        update(Part)
        .where(Part.backup_id == settled.c.backup_id, Part.index == settled.c.index)
        .values(
            delete_status=settled.c.status,
            delete_error=settled.c.error,
            delete_attempted_at=func.now(),
        )
    )


def release_parts(session: Session, refs: Sequence[PartRef]) -> None:
    """Undo the claim of parts never tried (the attempt does not count)."""
    keys = [(ref.backup_id, ref.index) for ref in refs]
    if not keys:
        return
    session.execute(
        update(Part)
        .where(tuple_(Part.backup_id, Part.index).in_(keys))
        .values(
            delete_attempts=func.greatest(Part.delete_attempts - 1, 0), delete_attempted_at=None
        )
    )


def finish_backups(session: Session, backup_ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    """Expired backups all of whose messages are gone become `deleted`."""
    ids = list(set(backup_ids))
    if not ids:
        return []
    unfinished = (
        select(Part.backup_id)
        .where(
            Part.backup_id == Backup.id,
            or_(
                Part.delete_status.is_(None),
                Part.delete_status == PartStatus.UNDELETABLE.value,
            ),
        )
        .exists()
    )
    return list(
        session.scalars(
            update(Backup)
            .where(Backup.id.in_(ids), Backup.status == Status.EXPIRED.value, ~unfinished)
            .values(status=Status.DELETED.value)
            .returning(Backup.id)
        )
    )


def part_states(session: Session, backup_id: uuid.UUID) -> list[tuple[int, str | None, int]]:
    """(index, delete_status, delete_attempts) of each part of a backup, for the CLI and tests."""
    rows = session.execute(
        select(Part.index, Part.delete_status, Part.delete_attempts)
        .where(Part.backup_id == backup_id)
        .order_by(Part.index)
    )
    return [(index, status, attempts) for index, status, attempts in rows]
