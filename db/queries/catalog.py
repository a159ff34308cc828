"""The catalog's own messages in each chat: what the worker sent, so that only those are deleted.

The chat is untrusted: a member may post and pin a document that looks like the catalog's head.
So the ids of the catalog's messages (its pinned head and its parts) are kept here when the
worker sends them, and publishing deletes only messages recorded here as sent by the bot that
publishes, never ids read from a pinned message or a document (worker/catalog/publish.py).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Index,
    Text,
    UniqueConstraint,
    func,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from db.columns import one_of
from db.models import Base


class Kind(enum.StrEnum):
    """Which message of a catalog."""

    HEAD = "head"  # the pinned document
    PART = "part"  # a part of the catalog artifact


class State(enum.StrEnum):
    """What became of a catalog message."""

    CURRENT = "current"  # the chat's catalog now
    SUPERSEDED = "superseded"  # replaced (or left half-sent): to delete
    DELETED = "deleted"  # deleted, or already gone from the chat
    UNDELETABLE = "undeletable"  # Telegram no longer lets the bot delete it (48 hours)


class CatalogMessage(Base):
    """One message the worker sent as (part of) a chat's catalog."""

    __tablename__ = "catalog_messages"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    chat_id: Mapped[str] = mapped_column(Text)
    message_id: Mapped[int] = mapped_column(BigInteger)
    bot_id: Mapped[str] = mapped_column(Text)  # the bot that sent it: the one that may delete it
    kind: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(Text, server_default=State.CURRENT.value)
    sent_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        UniqueConstraint("chat_id", "message_id", name="uq_catalog_messages_message"),
        CheckConstraint(one_of("kind", Kind), name="kind"),
        CheckConstraint(one_of("state", State), name="state"),
        Index(
            "ix_catalog_messages_live",
            "chat_id",
            postgresql_where="state IN ('current', 'superseded')",
        ),
    )


def current_head(session: Session, chat_id: str) -> CatalogMessage | None:
    """The head of the chat's current catalog, as the worker recorded it."""
    return session.scalars(
        select(CatalogMessage)
        .where(
            CatalogMessage.chat_id == chat_id,
            CatalogMessage.kind == Kind.HEAD.value,
            CatalogMessage.state == State.CURRENT.value,
        )
        .order_by(CatalogMessage.id.desc())
        .limit(1)
    ).one_or_none()


def record(
    session: Session,
    chat_id: str,
    bot_id: str,
    fingerprint: str,
    parts: Iterable[int],
    head: int | None,
    *,
    current: bool,
) -> None:
    """Record catalog messages `bot_id` sent: the chat's catalog now when `current` (the one it
    replaces is superseded), else to delete (a catalog left half-sent, or one recovered from)."""
    if current:
        session.execute(
            update(CatalogMessage)
            .where(
                CatalogMessage.chat_id == chat_id,
                CatalogMessage.state == State.CURRENT.value,
            )
            .values(state=State.SUPERSEDED.value)
        )
    state = State.CURRENT if current else State.SUPERSEDED
    messages = [(message_id, Kind.PART) for message_id in parts]
    messages += [] if head is None else [(head, Kind.HEAD)]
    session.add_all(
        CatalogMessage(
            chat_id=chat_id,
            message_id=message_id,
            bot_id=bot_id,
            kind=kind.value,
            fingerprint=fingerprint,
            state=state.value,
        )
        for message_id, kind in messages
    )
    session.flush()


def superseded(session: Session, chat_id: str, bot_id: str) -> list[CatalogMessage]:
    """The chat's replaced catalog messages that `bot_id` sent, heads first."""
    return list(
        session.scalars(
            select(CatalogMessage)
            .where(
                CatalogMessage.chat_id == chat_id,
                CatalogMessage.bot_id == bot_id,
                CatalogMessage.state == State.SUPERSEDED.value,
            )
            .order_by(CatalogMessage.kind, CatalogMessage.message_id)
        )
    )


def settle(session: Session, row_id: int, state: State) -> None:
    """A superseded message deleted, or found undeletable."""
    session.execute(
        update(CatalogMessage).where(CatalogMessage.id == row_id).values(state=state.value)
    )
