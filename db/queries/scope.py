"""Queries of a request's project scope: which databases a project's restores created, which
part messages the worker's own bots sent for a project, and jobs rows nobody ever claimed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from db import ledger, models

Job = models.Job
Part = models.BackupPart
# What a registered part's delete_error says: the sweep never claims a part whose delete_status
# is set, so its message is only forgotten when the backup expires, never deleted.
FOREIGN_PART = (
    "registered from outside (backups.register): the worker's ledger does not show its own bot "
    "sending this message for the project, so it is never deleted, only forgotten"
)


def created_by_project(
    session: Session, *, project_id: str, server: str, database: str, job_id: uuid.UUID
) -> bool:
    """Whether a completed restore of `project_id` (or job `job_id` itself) created `database`
    on `server`: its payload says the target was new when the job was accepted."""
    payload = Job.payload
    found = session.scalars(
        select(Job.id)
        .where(
            Job.type == models.JobType.RESTORE.value,
            Job.project_id == project_id,
            payload["new_target"].as_boolean().is_(True),
            payload["server"].as_string() == server,
            payload["target_database"].as_string() == database,
            or_(Job.status == models.JobStatus.COMPLETED.value, Job.id == job_id),
        )
        .limit(1)
    ).first()
    return found is not None


def recorded_part(session: Session, chat_id: str, message_id: int) -> uuid.UUID | None:
    """The backup (not deleted) that already records this message as one of its parts."""
    return session.scalars(
        select(Part.backup_id)
        .join(models.Backup, models.Backup.id == Part.backup_id)
        .where(
            Part.chat_id == chat_id,
            Part.message_id == message_id,
            models.Backup.status != models.BackupStatus.DELETED.value,
        )
        .limit(1)
    ).first()


def sent_for_project(session: Session, chat_id: str, message_id: int, project_id: str) -> bool:
    """Whether the ledger shows one of the worker's own bots sending this message for a job of
    `project_id` (every part a backup job sends is written there as it is sent)."""
    sent = ledger.SentMessage
    found = session.scalars(
        select(sent.id)
        .join(Job, Job.id == sent.job_id)
        .where(
            sent.chat_id == chat_id,
            sent.message_id == message_id,
            Job.project_id == project_id,
        )
        .limit(1)
    ).first()
    return found is not None


def forget_only(session: Session, backup_id: uuid.UUID, indexes: Sequence[int]) -> None:
    """Mark these parts as not the worker's to delete."""
    if indexes:
        session.execute(
            update(Part)
            .where(Part.backup_id == backup_id, Part.index.in_(list(indexes)))
            .values(
                delete_status=models.PartDeleteStatus.UNDELETABLE.value,
                delete_error=FOREIGN_PART,
            )
        )


def unclaimed_pending(
    session: Session, *, older_than: dt.timedelta, limit: int
) -> list[models.Job]:
    """Pending rows never claimed nor started, created longer than `older_than` ago."""
    return list(
        session.scalars(
            select(Job)
            .where(
                and_(
                    Job.status == models.JobStatus.PENDING.value,
                    Job.worker_hostname.is_(None),
                    Job.attempts == 0,
                    Job.created_at < func.now() - older_than,
                )
            )
            .order_by(Job.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
