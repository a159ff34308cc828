"""Queries for restores and verifications: the verification record, concurrent restores."""

from __future__ import annotations

import uuid

from sqlalchemy import Text, func, select, update
from sqlalchemy.orm import Session

from db import models

VERIFY_OK = "ok"  # every checksum matched, the archive decrypted and read to its end
VERIFY_FAILED = "failed"  # a part is missing or corrupted, or the archive cannot be read


def record_verification(session: Session, backup_id: uuid.UUID, *, ok: bool) -> bool:
    """Set the backup's verified_at to now and its verify_status; False if it does not exist."""
    changed = session.scalars(
        update(models.Backup)
        .where(models.Backup.id == backup_id)
        .values(verified_at=func.now(), verify_status=VERIFY_OK if ok else VERIFY_FAILED)
        .returning(models.Backup.id)
    ).one_or_none()
    return changed is not None


def other_restores_into(session: Session, target: str, job_id: uuid.UUID) -> list[uuid.UUID]:
    """Restore jobs other than `job_id` running pg_restore (stage `restore`) into `target`."""
    job = models.Job
    return list(
        session.scalars(
            select(job.id).where(
                job.type == models.JobType.RESTORE.value,
                job.status == models.JobStatus.RUNNING.value,
                job.stage == "restore",
                job.payload["target_database"].astext == target,
                job.id != job_id,
            )
        )
    )


def undo_expiry(session: Session, job8s: list[str]) -> dict[str, str | None]:
    """For each 8-hex-digit job id prefix: its completed restore's undo_expires_at (ISO text)."""
    job = models.Job
    prefix = func.left(func.replace(func.cast(job.id, Text), "-", ""), 8)
    rows = session.execute(
        select(prefix, job.result["restore"]["databases"]["undo_expires_at"].astext).where(
            job.type == models.JobType.RESTORE.value,
            job.status == models.JobStatus.COMPLETED.value,
            prefix.in_(job8s),
        )
    )
    return {str(row[0]): row[1] for row in rows}
