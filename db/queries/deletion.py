"""Queries of `backups forget` (one backup given up on purpose, its parts then deleted by the
sweep's path: db.queries.expiry.claim_parts with a backup_id) and of `sweep --dry-run`.

Unlike the expiry rules, forgetting may take the newest active backup of a project: the
operator named it. What it must not take without being told (--force) is the last good one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db import models

Backup = models.Backup
Part = models.BackupPart
Status = models.BackupStatus
FAILED = "failed"  # db.queries.restores.VERIFY_FAILED and db.queries.drills.FAILED


def others_good(session: Session, backup: models.Backup) -> int:
    """How many other good backups the backup's project has of the same database and type:
    active, and neither a verification nor a drill found them broken."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Backup)
            .where(
                Backup.project_id == backup.project_id,
                Backup.type == backup.type,
                Backup.database.is_not_distinct_from(backup.database),
                Backup.status == Status.ACTIVE.value,
                Backup.verify_status.is_distinct_from(FAILED),
                Backup.drill_status.is_distinct_from(FAILED),
                Backup.id != backup.id,
            )
        )
        or 0
    )


def lock(session: Session, backup_id: uuid.UUID) -> models.Backup | None:
    """The backup, its row locked until the transaction ends (one forget at a time)."""
    return session.scalars(
        select(Backup)
        .where(Backup.id == backup_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()


def expire(session: Session, backup_id: uuid.UUID) -> bool:
    """Mark an active backup expired, so its parts are deleted; False if it was not active."""
    done = session.scalar(
        update(Backup)
        .where(Backup.id == backup_id, Backup.status == Status.ACTIVE.value)
        .values(status=Status.EXPIRED.value)
        .returning(Backup.id)
    )
    return done is not None


@dataclass(frozen=True)
class PendingPart:
    """A part of an expired backup whose message the sweep would try to delete."""

    backup_id: uuid.UUID
    project_id: str
    database: str | None
    created_at: dt.datetime
    index: int
    chat_id: str
    message_id: int
    size_bytes: int


def pending_parts(session: Session, *, limit: int) -> list[PendingPart]:
    """Unsettled parts of expired backups, oldest backup first (`sweep --dry-run`); unlike
    claim_parts, this counts no attempt and ignores the lease."""
    rows = session.execute(
        select(
            Part.backup_id,
            Backup.project_id,
            Backup.database,
            Backup.created_at,
            Part.index,
            Part.chat_id,
            Part.message_id,
            Part.size_bytes,
        )
        .join(Backup, Backup.id == Part.backup_id)
        .where(Backup.status == Status.EXPIRED.value, Part.delete_status.is_(None))
        .order_by(Backup.created_at, Part.backup_id, Part.index)
        .limit(limit)
    )
    return [PendingPart(*row) for row in rows]
