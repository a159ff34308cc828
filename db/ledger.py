"""The ledger of every part message a backup job sent: how orphans in Telegram are found.

A part is sent before its backup is recorded, and a job can end without recording it (failed
for good, handed back for a new attempt, its worker gone). Each sent part is written here in
the same transaction that adds it to the job's row, so the sweep (worker.scheduling.orphans)
can later tell a message some backup keeps from one nobody will ever read, and delete the
latter while Telegram still allows it (48 hours).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Index,
    Text,
    UniqueConstraint,
    Uuid,
    and_,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from db import models
from db.columns import one_of
from db.models import Base


class SentState(enum.StrEnum):
    """What became of a sent part message."""

    SENT = "sent"  # not settled yet
    KEPT = "kept"  # a recorded backup holds it
    DELETED = "deleted"  # an orphan, deleted (or already gone from Telegram)
    UNDELETABLE = "undeletable"  # an orphan Telegram no longer lets the bot delete


class SentMessage(Base):
    """One part message a backup job sent."""

    __tablename__ = "sent_messages"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    job_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    chat_id: Mapped[str] = mapped_column(Text)
    message_id: Mapped[int] = mapped_column(BigInteger)
    bot_id: Mapped[str | None] = mapped_column(Text)  # the sending bot; None: the first one
    sent_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    state: Mapped[str] = mapped_column(Text, server_default=SentState.SENT.value)

    __table_args__ = (
        UniqueConstraint("chat_id", "message_id", name="uq_sent_messages_message"),
        CheckConstraint(one_of("state", SentState), name="state"),
        Index("ix_sent_messages_unsettled", "sent_at", postgresql_where="state = 'sent'"),
    )


@dataclass(frozen=True)
class Unsettled:
    """A sent message whose job has ended, and whether a recorded backup holds it."""

    id: int
    chat_id: str
    message_id: int
    bot_id: str | None
    sent_at: dt.datetime
    kept: bool


def record(
    session: Session, job_id: uuid.UUID, chat_id: str, message_id: int, bot_id: str | None = None
) -> None:
    """Note a sent part message (again is harmless)."""
    statement = insert(SentMessage).values(
        job_id=job_id, chat_id=chat_id, message_id=message_id, bot_id=bot_id
    )
    session.execute(statement.on_conflict_do_nothing(constraint="uq_sent_messages_message"))


def unsettled(session: Session, *, sent_before: dt.datetime, limit: int) -> list[Unsettled]:
    """Messages not settled yet, sent before `sent_before`, of jobs no step is working on.

    A running job's messages are left alone (its step may still record them); a pending one
    was handed back for a new attempt, which sends its parts anew.
    """
    part, copy = models.BackupPart, models.BackupPartCopy
    # Held by a backup: as its part (copy 0) or as a further copy of one.
    kept = or_(
        exists().where(
            and_(part.chat_id == SentMessage.chat_id, part.message_id == SentMessage.message_id)
        ),
        exists().where(
            and_(copy.chat_id == SentMessage.chat_id, copy.message_id == SentMessage.message_id)
        ),
    )
    ended = exists().where(
        and_(models.Job.id == SentMessage.job_id, models.Job.status != models.JobStatus.RUNNING)
    )
    rows = session.execute(
        select(
            SentMessage.id,
            SentMessage.chat_id,
            SentMessage.message_id,
            SentMessage.bot_id,
            SentMessage.sent_at,
            kept.label("kept"),
        )
        .where(SentMessage.state == SentState.SENT, SentMessage.sent_at < sent_before, ended)
        .order_by(SentMessage.sent_at)
        .limit(limit)
    ).all()
    return [
        Unsettled(row.id, row.chat_id, row.message_id, row.bot_id, row.sent_at, row.kept)
        for row in rows
    ]


def settle(session: Session, ids: Sequence[int], state: SentState) -> None:
    """Give these messages their final state."""
    if ids:
        session.execute(
            update(SentMessage).where(SentMessage.id.in_(list(ids))).values(state=state.value)
        )
