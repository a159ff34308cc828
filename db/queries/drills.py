"""Queries of restore drills: which backups are due, which drills run, their verdicts.

A drill is a restore job (type `restore`, payload mode `drill`) into a scratch database that
is dropped again; its verdict lands on the backup (drilled_at, drill_status, drill_report).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session, aliased

from db import models

Backup = models.Backup
Job = models.Job
MODE = "drill"  # worker.contract.tasks.MODE_DRILL
OK = "ok"  # restored and every check passed
FAILED = "failed"  # the restore failed, or differs from what the backup recorded


@dataclasses.dataclass(frozen=True)
class LastDrill:
    """A project's most recent drill."""

    project_id: str
    backup_id: uuid.UUID
    database: str | None
    drilled_at: dt.datetime
    status: str
    detail: str | None

    def to_json(self) -> models.JSONObject:
        """JSON-ready dict."""
        return {
            "project_id": self.project_id,
            "backup_id": str(self.backup_id),
            "database": self.database,
            "drilled_at": self.drilled_at.isoformat(),
            "status": self.status,
            "detail": self.detail,
        }


def _drills() -> list[ColumnElement[bool]]:
    return [
        Job.type == models.JobType.RESTORE.value,
        Job.payload["mode"].astext == MODE,
    ]


def running(session: Session) -> list[models.Job]:
    """Drill jobs not finished yet (pending or running)."""
    return list(
        session.scalars(select(Job).where(*_drills(), Job.status.in_(list(models.UNFINISHED))))
    )


def finished_targets(session: Session) -> set[tuple[str, str]]:
    """(server, scratch database) of every finished drill job: what drill rotation may drop."""
    rows = session.execute(
        select(Job.payload["server"].astext, Job.payload["target_database"].astext).where(
            *_drills(), Job.status.in_(list(models.FINISHED))
        )
    )
    return {(str(server), str(name)) for server, name in rows if server and name}


def due(
    session: Session, *, period: dt.timedelta, limit: int, project_id: str | None = None
) -> list[models.Backup]:
    """The newest active database backup of each (project, server, database) not drilled within
    `period`, the longest undrilled first; with `project_id`, that project's, due or not."""
    newest = (
        select(Backup)
        .ext(distinct_on(Backup.project_id, Backup.server, Backup.database))
        .where(
            Backup.status == models.BackupStatus.ACTIVE.value,
            Backup.type == models.BackupType.DATABASE.value,
            Backup.database.is_not(None),
        )
        .order_by(Backup.project_id, Backup.server, Backup.database, Backup.created_at.desc())
    )
    if project_id is not None:
        newest = newest.where(Backup.project_id == project_id)
    latest = aliased(Backup, newest.subquery())
    other = aliased(Backup)
    last_drill = (
        select(func.max(other.drilled_at))
        .where(
            other.project_id == latest.project_id,
            other.server == latest.server,
            other.database == latest.database,
        )
        .scalar_subquery()
    )
    query = select(latest).order_by(last_drill.asc().nulls_first(), latest.created_at)
    if project_id is None:
        query = query.where(
            func.coalesce(last_drill, dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) < func.now() - period
        )
    return list(session.scalars(query.limit(limit)))


def record(session: Session, backup_id: uuid.UUID, *, ok: bool, report: models.JSONObject) -> None:
    """The backup's drill verdict: drilled_at now, drill_status and the report."""
    session.execute(
        update(Backup)
        .where(Backup.id == backup_id)
        .values(drilled_at=func.now(), drill_status=OK if ok else FAILED, drill_report=report)
    )


def last_per_project(session: Session) -> list[LastDrill]:
    """Each project's most recent drill, by project."""
    rows = session.execute(
        select(
            Backup.project_id,
            Backup.id,
            Backup.database,
            Backup.drilled_at,
            Backup.drill_status,
            Backup.drill_report["error"].astext,
        )
        .ext(distinct_on(Backup.project_id))
        .where(Backup.drilled_at.is_not(None))
        .order_by(Backup.project_id, Backup.drilled_at.desc())
    )
    return [
        LastDrill(project, backup_id, database, when, status or FAILED, detail)
        for project, backup_id, database, when, status, detail in rows
    ]


def failing(session: Session) -> list[LastDrill]:
    """The projects whose most recent drill failed."""
    return [last for last in last_per_project(session) if last.status != OK]
