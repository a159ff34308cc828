"""Queries on the backups and backup_parts tables."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import uuid

from sqlalchemy import (
    ColumnElement,
    Select,
    Uuid,
    any_,
    cast,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, selectinload

from db import models
from worker import errors

Backup = models.Backup
Status = models.BackupStatus
_SHA256 = re.compile(models.SHA256_PATTERN)


@dataclasses.dataclass(frozen=True)
class NewPart:
    """One uploaded part, as the upload step knows it."""

    index: int
    file_id: str
    file_unique_id: str
    message_id: int
    chat_id: str
    size_bytes: int
    sha256: str
    bot_id: str | None = None  # None: the first configured bot (parts from before 0005)


@dataclasses.dataclass(frozen=True)
class NewCopy:
    """Copy `copy` (1, 2, ...) of part `index`, sent to `repository`."""

    index: int
    copy: int
    repository: str
    file_id: str
    file_unique_id: str
    message_id: int
    chat_id: str
    bot_id: str | None = None


@dataclasses.dataclass(frozen=True)
class NewBackup:
    """A backup to record, with its parts."""

    project_id: str
    job_id: uuid.UUID | None
    type: str
    database: str | None
    filename: str
    size_bytes: int
    sha256: str
    compression: str
    encrypted: bool
    encryption_recipients: list[str]
    chat_id: str
    message_thread_id: int | None
    caption: str | None
    expires_at: dt.datetime | None
    parts: list[NewPart]
    server: str = "default"
    contents: dict[str, object] | None = None  # worker.postgres.snapshot.Contents, as JSON
    pg_dump_version: str | None = None  # e.g. "15.4": pg_restore must be at least as new


def _validate(new: NewBackup) -> None:
    if new.type not in set(models.BackupType):
        raise errors.InputError(f"unknown backup type {new.type!r}")
    if new.compression not in set(models.Compression):
        raise errors.InputError(f"unknown compression {new.compression!r}")
    if new.expires_at is not None and new.expires_at.tzinfo is None:
        raise errors.InputError("expires_at must carry a time zone")
    if not new.parts:
        raise errors.IntegrityError(f"backup {new.filename} has no parts")
    indexes = sorted(part.index for part in new.parts)
    if indexes != list(range(len(new.parts))):
        raise errors.IntegrityError(
            f"backup {new.filename}: part indexes {indexes} are not 0..{len(new.parts) - 1}"
        )
    parts_total = sum(part.size_bytes for part in new.parts)
    if parts_total != new.size_bytes or any(part.size_bytes < 0 for part in new.parts):
        raise errors.IntegrityError(
            f"backup {new.filename}: parts add up to {parts_total} bytes,"
            f" the artifact has {new.size_bytes}"
        )
    digests = {"artifact": new.sha256} | {f"part {p.index}": p.sha256 for p in new.parts}
    for name, digest in digests.items():
        if not _SHA256.match(digest):
            raise errors.IntegrityError(
                f"backup {new.filename}: {name} sha256 is not lowercase hex"
            )


def record_copies(session: Session, backup_id: uuid.UUID, copies: list[NewCopy]) -> None:
    """Insert the further copies of a just recorded backup's parts."""
    session.execute(
        insert(models.BackupPartCopy),
        [{"backup_id": backup_id, **dataclasses.asdict(c)} for c in copies],
    )


def copies_of(session: Session, backup_id: uuid.UUID) -> list[models.BackupPartCopy]:
    """The further copies of a backup's parts, by part then copy."""
    return list(
        session.scalars(
            select(models.BackupPartCopy)
            .where(models.BackupPartCopy.backup_id == backup_id)
            .order_by(models.BackupPartCopy.index, models.BackupPartCopy.copy)
        )
    )


def record_backup(session: Session, new: NewBackup) -> tuple[models.Backup, bool]:
    """Insert a backup and its parts once per job; returns (row with parts, created).

    A second call for the same job_id returns the recorded backup unchanged, even if `new`
    differs (a re-run dump): the first recorded artifact is the one the parts belong to.
    """
    _validate(new)
    columns = {f.name: getattr(new, f.name) for f in dataclasses.fields(new) if f.name != "parts"}
    if new.contents is None:
        del columns["contents"]  # SQL NULL, not JSON null
    backup_id = session.scalar(
        pg_insert(Backup)
        .values(**columns, part_count=len(new.parts))
        .on_conflict_do_nothing(index_elements=[Backup.job_id])
        .returning(Backup.id)
    )
    if backup_id is None:
        # Only a non-null job_id can conflict; ON CONFLICT waited for the other inserter.
        assert new.job_id is not None
        existing = get_backup_by_job(session, new.job_id)
        if existing is None:
            raise errors.NotFoundError(f"the backup of job {new.job_id} vanished while recording")
        return existing, False
    session.execute(
        insert(models.BackupPart),
        [
            {"backup_id": backup_id, **dataclasses.asdict(part)}
            for part in sorted(new.parts, key=lambda part: part.index)
        ],
    )
    created = get_backup(session, backup_id)
    assert created is not None
    return created, True


def get_backup(session: Session, backup_id: uuid.UUID) -> models.Backup | None:
    """The backup with this id, parts loaded."""
    return _with_parts(session, Backup.id == backup_id)


def get_backup_by_job(session: Session, job_id: uuid.UUID) -> models.Backup | None:
    """The backup recorded by this job, parts loaded."""
    return _with_parts(session, Backup.job_id == job_id)


def last_size(session: Session, project_id: str, server: str, database: str) -> int | None:
    """Bytes of the newest backup of `database` on `server` for the project, whatever its status
    now; None before the first."""
    return session.scalars(
        select(Backup.size_bytes)
        .where(
            Backup.project_id == project_id,
            Backup.server == server,
            Backup.database == database,
            Backup.type == models.BackupType.DATABASE.value,
        )
        .order_by(Backup.created_at.desc(), Backup.id.desc())
        .limit(1)
    ).first()


def _with_parts(session: Session, where: ColumnElement[bool]) -> models.Backup | None:
    return session.scalars(
        select(Backup)
        .where(where)
        .options(selectinload(Backup.parts))
        .execution_options(populate_existing=True)
    ).one_or_none()


def list_backups(
    session: Session,
    *,
    project_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
    before: uuid.UUID | None = None,
) -> list[models.Backup]:
    """Backups newest first, without their parts; `before` (the last id of the previous page)
    starts the page after that backup: unlike a deep OFFSET, it skips nothing it has read."""
    if limit < 1 or offset < 0:
        raise errors.InputError("limit must be at least 1 and offset at least 0")
    query = (
        select(Backup)
        .order_by(Backup.created_at.desc(), Backup.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if project_id is not None:
        query = query.where(Backup.project_id == project_id)
    if status is not None:
        query = query.where(Backup.status == status)
    if before is not None:
        position = session.execute(select(Backup.created_at, Backup.id).where(Backup.id == before))
        if (cursor := position.one_or_none()) is None:
            raise errors.NotFoundError(f"backup {before} does not exist")
        query = query.where(tuple_(Backup.created_at, Backup.id) < tuple_(*cursor))
    return list(session.scalars(query))


def mark_expired(
    session: Session, *, now: dt.datetime | None = None, limit: int | None = None
) -> list[uuid.UUID]:
    """Mark active backups whose expires_at has passed (at or before `now`) expired."""
    cutoff = func.now() if now is None else _aware(now)
    due = select(Backup.id).where(Backup.status == Status.ACTIVE.value, Backup.expires_at <= cutoff)
    if limit is not None:
        # Without a limit every due row is taken: no order to respect, no sort to pay.
        due = due.order_by(Backup.expires_at).limit(limit)
    # SKIP LOCKED: two sweeps at once split the work instead of waiting on each other.
    due = due.with_for_update(skip_locked=True)
    return list(
        session.scalars(
            update(Backup)
            .where(one_of_ids(due))
            .values(status=Status.EXPIRED.value)
            .returning(Backup.id)
        )
    )


def one_of_ids(ids: Select[uuid.UUID]) -> ColumnElement[bool]:
    """`backups.id = ANY(<the ids as one array>)`, for an UPDATE over a locked selection.

    Written as `id IN (subquery)`, the planner (expecting far more due rows than there are)
    hash-joins against a scan of the whole table: 1.5 s at 1,000,000 rows. Collected into one
    array first, the UPDATE finds its rows through the primary key.
    """
    chosen = ids.subquery()
    return Backup.id == any_(
        cast(select(func.array_agg(chosen.c.id)).scalar_subquery(), ARRAY(Uuid))
    )


def _aware(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise errors.InputError("timestamps must carry a time zone")
    return moment
