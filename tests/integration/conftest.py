"""Builders for control-plane rows, used by the tests of the db package."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Sequence

import pytest
from sqlalchemy import update

from db import models, session
from db.queries import backups, jobs


def _sha256(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


@pytest.fixture
def make_job(database: session.Database) -> Callable[..., uuid.UUID]:
    """Insert a pending job (committed) and return its id; created_at may be forced."""

    def make(
        *,
        project_id: str = "proj-1",
        type: str = "backup",
        created_at: dt.datetime | None = None,
        celery_task_id: str | None = None,
    ) -> uuid.UUID:
        job_id = uuid.uuid4()
        with database.transaction() as db_session:
            jobs.create_job(
                db_session,
                job_id=job_id,
                type=type,
                project_id=project_id,
                payload={"database": "app"},
                celery_task_id=celery_task_id,
            )
            if created_at is not None:
                db_session.execute(
                    update(models.Job).where(models.Job.id == job_id).values(created_at=created_at)
                )
        return job_id

    return make


@pytest.fixture
def make_new_backup() -> Callable[..., backups.NewBackup]:
    """Build (not insert) a consistent NewBackup: parts numbered 0..n-1 whose sizes add up."""

    def make(
        *,
        project_id: str = "proj-1",
        job_id: uuid.UUID | None = None,
        part_sizes: Sequence[int] = (100, 50),
        type: str = "database",
        expires_at: dt.datetime | None = None,
    ) -> backups.NewBackup:
        label = str(job_id or uuid.uuid4())
        parts = [
            backups.NewPart(
                index=index,
                file_id=f"file-{label}-{index}",
                file_unique_id=f"unique-{label}-{index}",
                message_id=1000 + index,
                chat_id="-1001234567890",
                size_bytes=size,
                sha256=_sha256(f"{label}-{index}"),
            )
            for index, size in enumerate(part_sizes)
        ]
        return backups.NewBackup(
            project_id=project_id,
            job_id=job_id,
            type=type,
            database="app" if type == "database" else None,
            filename=f"{project_id}-{label}.dump.zst.age",
            size_bytes=sum(part_sizes),
            sha256=_sha256(label),
            compression="zstd",
            encrypted=True,
            encryption_recipients=["age1examplerecipient"],
            chat_id="-1001234567890",
            message_thread_id=7,
            caption=None,
            expires_at=expires_at,
            parts=parts,
        )

    return make


@pytest.fixture
def add_backup(
    database: session.Database, make_new_backup: Callable[..., backups.NewBackup]
) -> Callable[..., uuid.UUID]:
    """Record a backup (committed) and return its id; created_at and status may be forced."""

    def add(
        *,
        project_id: str = "proj-1",
        size_bytes: int = 100,
        type: str = "database",
        status: str = "active",
        created_at: dt.datetime | None = None,
        expires_at: dt.datetime | None = None,
    ) -> uuid.UUID:
        new = make_new_backup(
            project_id=project_id, part_sizes=(size_bytes,), type=type, expires_at=expires_at
        )
        with database.transaction() as db_session:
            backup, _ = backups.record_backup(db_session, new)
            forced: dict[str, object] = {"status": status}
            if created_at is not None:
                forced["created_at"] = created_at
            db_session.execute(
                update(models.Backup).where(models.Backup.id == backup.id).values(**forced)
            )
        return backup.id

    return add
