"""Queries of further copies (backup_part_copies): the expiry sweep's deletes of them."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence

from sqlalchemy import func, or_, select, tuple_, update
from sqlalchemy.orm import Session, aliased

from db import models
from db.queries import expiry as db_expiry

Copy = models.BackupPartCopy
Backup = models.Backup
GONE = (models.BackupStatus.EXPIRED.value, models.BackupStatus.DELETED.value)


@dataclasses.dataclass(frozen=True)
class CopyRef:
    """A further copy's message to delete."""

    part: db_expiry.PartRef
    copy: int
    repository: str


def claim(session: Session, *, limit: int) -> list[CopyRef]:
    """Copies of expired (or already deleted) backups still to delete, one attempt counted;
    a lease as for copy 0 (db.queries.expiry.claim_parts)."""
    due = (
        select(Copy.backup_id, Copy.index, Copy.copy)
        .join(Backup, Backup.id == Copy.backup_id)
        .where(
            Backup.status.in_(GONE),
            Copy.delete_status.is_(None),
            or_(
                Copy.delete_attempted_at.is_(None),
                Copy.delete_attempted_at < func.now() - db_expiry.DELETE_LEASE,
            ),
        )
        .order_by(Copy.backup_id, Copy.index, Copy.copy)
        .limit(limit)
        .with_for_update(of=Copy, skip_locked=True)
    )
    rows = session.execute(
        update(Copy)
        .where(tuple_(Copy.backup_id, Copy.index, Copy.copy).in_(due))
        .values(delete_attempts=Copy.delete_attempts + 1, delete_attempted_at=func.now())
        .returning(
            Copy.backup_id,
            Copy.index,
            Copy.chat_id,
            Copy.message_id,
            Copy.delete_attempts,
            Copy.bot_id,
            Copy.copy,
            Copy.repository,
        )
    )
    refs = [CopyRef(db_expiry.PartRef(*row[:6]), row[6], row[7]) for row in rows]
    return sorted(refs, key=lambda ref: (str(ref.part.backup_id), ref.part.index, ref.copy))


def settle(session: Session, ref: CopyRef, status: str | None) -> None:
    """Record one copy's fate; None frees it for a later sweep."""
    session.execute(
        update(Copy)
        .where(
            Copy.backup_id == ref.part.backup_id,
            Copy.index == ref.part.index,
            Copy.copy == ref.copy,
        )
        .values(delete_status=status, delete_attempted_at=func.now())
    )


def states(session: Session, backup_id: uuid.UUID) -> Sequence[tuple[int, int, str | None]]:
    """(index, copy, delete_status) of each further copy of a backup, for the CLI and tests."""
    rows = session.execute(
        select(Copy.index, Copy.copy, Copy.delete_status)
        .where(Copy.backup_id == backup_id)
        .order_by(Copy.index, Copy.copy)
    )
    return [(index, copy, status) for index, copy, status in rows]


@dataclasses.dataclass(frozen=True)
class Missing:
    """A part of an active backup with no copy in a repository, and where to read it."""

    backup_id: uuid.UUID
    index: int
    part_count: int
    project_id: str
    label: str  # the database, or the file name
    size_bytes: int
    sha256: str
    file_id: str  # in the repository read from
    bot_id: str | None
    job_id: uuid.UUID | None  # the backup's job: its sent-messages ledger takes the new copy


def missing(session: Session, *, source: str, target: str, default: str) -> list[Missing]:
    """The parts of active backups that have a copy in `source` and none in `target`, by
    backup and part (`default`: the name standing for copy 0, the backup_parts row)."""
    part = models.BackupPart
    # An alias: reading from a further copy joins Copy in the outer query, and the subquery
    # would otherwise correlate with it (and select from nothing).
    held = aliased(Copy)
    in_target = (
        select(held.backup_id)
        .where(
            held.backup_id == part.backup_id,
            held.index == part.index,
            held.repository == target,
        )
        .exists()
    )
    if source == default:
        query = select(
            part.backup_id,
            part.index,
            Backup,
            part.size_bytes,
            part.sha256,
            part.file_id,
            part.bot_id,
        )
    else:
        query = select(
            part.backup_id,
            part.index,
            Backup,
            part.size_bytes,
            part.sha256,
            Copy.file_id,
            Copy.bot_id,
        ).join(
            Copy,
            (Copy.backup_id == part.backup_id)
            & (Copy.index == part.index)
            & (Copy.repository == source),
        )
    rows = session.execute(
        query.join(Backup, Backup.id == part.backup_id)
        .where(Backup.status == models.BackupStatus.ACTIVE.value, ~in_target)
        .order_by(Backup.created_at, part.backup_id, part.index)
    ).all()
    return [
        Missing(
            row[0],
            row[1],
            row[2].part_count,
            row[2].project_id,
            row[2].database or row[2].filename,
            row[3],
            row[4],
            row[5],
            row[6],
            row[2].job_id,
        )
        for row in rows
    ]


def add(
    session: Session,
    gone: Missing,
    *,
    repository: str,
    file_id: str,
    file_unique_id: str,
    message_id: int,
    chat_id: str,
    bot_id: str | None,
) -> int:
    """Record a repaired copy as the part's next copy number; returns that number."""
    taken = session.scalar(
        select(func.coalesce(func.max(Copy.copy), 0)).where(
            Copy.backup_id == gone.backup_id, Copy.index == gone.index
        )
    )
    number = int(taken or 0) + 1
    session.add(
        Copy(
            backup_id=gone.backup_id,
            index=gone.index,
            copy=number,
            repository=repository,
            file_id=file_id,
            file_unique_id=file_unique_id,
            message_id=message_id,
            chat_id=chat_id,
            bot_id=bot_id,
        )
    )
    return number


@dataclasses.dataclass(frozen=True)
class Held:
    """A part of an active backup and where each of its copies is: repository -> the copy's
    (file_id, bot_id), copy 0's under `default`; the repositories in copy order."""

    part: Missing  # file_id and bot_id: copy 0's
    where: dict[str, tuple[str, str | None]]

    def read_from(self, repository: str) -> Missing:
        """The part as read from its copy in `repository`."""
        file_id, bot_id = self.where[repository]
        return dataclasses.replace(self.part, file_id=file_id, bot_id=bot_id)


def held(session: Session, *, default: str) -> list[Held]:
    """Every part of an active backup with its copies, by backup and part, as `missing`."""
    todo = missing(session, source=default, target="", default=default)
    copies = session.execute(
        select(Copy.backup_id, Copy.index, Copy.repository, Copy.file_id, Copy.bot_id)
        .join(Backup, Backup.id == Copy.backup_id)
        .where(Backup.status == models.BackupStatus.ACTIVE.value, Copy.delete_status.is_(None))
        .order_by(Copy.backup_id, Copy.index, Copy.copy)
    ).all()
    further: dict[tuple[uuid.UUID, int], dict[str, tuple[str, str | None]]] = {}
    for backup_id, index, repository, file_id, bot_id in copies:
        further.setdefault((backup_id, index), {}).setdefault(repository, (file_id, bot_id))
    return [
        Held(
            part,
            {default: (part.file_id, part.bot_id)} | further.get((part.backup_id, part.index), {}),
        )
        for part in todo
    ]
