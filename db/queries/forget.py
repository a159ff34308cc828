"""Queries of `backups forget`: one backup given up on purpose, its parts left to the sweep's
deletion path (db.queries.expiry.claim_parts with a backup_id).

Unlike the expiry rules, forgetting may take the newest active backup of a project: the
operator named it. What it must not take without being told (--force) is the last one.
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db import models

Backup = models.Backup
Status = models.BackupStatus


def others_active(session: Session, backup: models.Backup) -> int:
    """How many other active backups the backup's project has of the same database and type."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Backup)
            .where(
                Backup.project_id == backup.project_id,
                Backup.type == backup.type,
                Backup.database.is_not_distinct_from(backup.database),
                Backup.status == Status.ACTIVE.value,
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
