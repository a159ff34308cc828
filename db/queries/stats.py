"""Figures on the backups table for the gateway's dashboard (`backup-worker backups stats`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from db import models
from worker import errors

Backup = models.Backup
Status = models.BackupStatus
EXPIRING_SOON = dt.timedelta(days=7)


@dataclasses.dataclass(frozen=True)
class LatestBackup:
    """The newest active backup of one project."""

    project_id: str
    backup_id: uuid.UUID
    created_at: dt.datetime
    age_seconds: int

    def to_json(self) -> models.JSONObject:
        """JSON-ready dict."""
        return {
            "project_id": self.project_id,
            "backup_id": str(self.backup_id),
            "created_at": self.created_at.isoformat(),
            "age_seconds": self.age_seconds,
        }


@dataclasses.dataclass(frozen=True)
class BackupStats:
    """Figures for the gateway's dashboard.

    `by_status`, `by_type` and `total` count every row whatever its status; `total_bytes`,
    `expiring_soon` and `latest` consider active backups only. `expiring_soon` counts those
    whose expires_at is at or before now + 7 days, overdue ones the sweep has not reached yet
    included; `latest` holds one entry per project that has an active backup.
    """

    by_status: dict[str, int]
    by_type: dict[str, int]
    total: int
    total_bytes: int
    expiring_soon: int
    latest: list[LatestBackup]

    def to_json(self) -> models.JSONObject:
        """JSON-ready dict."""
        return {
            "by_status": dict(self.by_status),
            "by_type": dict(self.by_type),
            "total": self.total,
            "total_bytes": self.total_bytes,
            "expiring_soon": self.expiring_soon,
            "latest": [latest.to_json() for latest in self.latest],
        }


def stats(session: Session, *, now: dt.datetime | None = None) -> BackupStats:
    """Totals by status and type, bytes and expiry of active backups, latest per project."""
    now = session.scalars(select(func.now())).one() if now is None else _aware(now)
    by_status: dict[str, int] = {}
    by_type: dict[str, int] = {}
    total_bytes = 0
    groups = session.execute(
        select(
            Backup.status,
            Backup.type,
            func.count(),
            func.coalesce(func.sum(Backup.size_bytes), 0),
        ).group_by(Backup.status, Backup.type)
    )
    for status, type_, count, size in groups:
        by_status[status] = by_status.get(status, 0) + count
        by_type[type_] = by_type.get(type_, 0) + count
        if status == Status.ACTIVE:
            total_bytes += int(size)
    expiring_soon = session.scalars(
        select(func.count())
        .select_from(Backup)
        .where(Backup.status == Status.ACTIVE.value, Backup.expires_at <= now + EXPIRING_SOON)
    ).one()
    newest = session.execute(
        select(Backup.project_id, Backup.id, Backup.created_at)
        .ext(distinct_on(Backup.project_id))
        .where(Backup.status == Status.ACTIVE.value)
        .order_by(Backup.project_id, Backup.created_at.desc(), Backup.id.desc())
    )
    latest = [
        LatestBackup(
            project_id=project_id,
            backup_id=backup_id,
            created_at=created_at,
            age_seconds=int((now - created_at).total_seconds()),
        )
        for project_id, backup_id, created_at in newest
    ]
    return BackupStats(
        by_status=by_status,
        by_type=by_type,
        total=sum(by_status.values()),
        total_bytes=total_bytes,
        expiring_soon=expiring_soon,
        latest=latest,
    )


def _aware(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise errors.InputError("timestamps must carry a time zone")
    return moment
