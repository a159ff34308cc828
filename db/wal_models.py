"""Models of point-in-time recovery: WAL bundles and base backups of whole source servers.

They share db.models' metadata (schema control_plane), so migrations and `alembic check` see them.
A WAL bundle is one contiguous LSN range [start_lsn, end_lsn) of one timeline, stored as one
artifact (raw WAL bytes → zstd → age → parts); its parts are kept as JSON (index, file_id,
message_id, chat_id, size_bytes, sha256, bot_id), the shape worker.backup.upload records.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, DateTime, Index, Integer, Text, Uuid, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from db import columns
from db.columns import JSONObject
from db.models import Base


class WalBundle(Base):
    """A recorded range of a server's WAL in Telegram."""

    __tablename__ = "wal_bundles"

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, server_default=text("gen_random_uuid()")
    )
    server: Mapped[str] = mapped_column(Text)
    system_identifier: Mapped[str] = mapped_column(Text)
    timeline: Mapped[int] = mapped_column(Integer)
    start_lsn: Mapped[int] = mapped_column(BigInteger)
    end_lsn: Mapped[int] = mapped_column(BigInteger)
    # Commit timestamps found in the range (None: no commit in it).
    first_commit_at: Mapped[dt.datetime | None] = columns.timestamp()
    last_commit_at: Mapped[dt.datetime | None] = columns.timestamp()
    # Every transaction that committed by then has its commit record before end_lsn.
    covered_until: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    size_bytes: Mapped[int] = mapped_column(BigInteger)  # the artifact's
    sha256: Mapped[str] = mapped_column(Text)
    compression: Mapped[str] = mapped_column(Text)
    encrypted: Mapped[bool] = mapped_column(server_default=text("false"))
    parts: Mapped[list[JSONObject]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    created_at: Mapped[dt.datetime] = columns.created()

    __table_args__ = (
        Index(None, "server", "system_identifier", "timeline", "start_lsn", unique=True),
    )


class BaseBackup(Base):
    """A pg_basebackup of a whole server (tar of the base directory, WAL fetched apart)."""

    __tablename__ = "wal_base_backups"

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, server_default=text("gen_random_uuid()")
    )
    server: Mapped[str] = mapped_column(Text)
    system_identifier: Mapped[str] = mapped_column(Text)
    timeline: Mapped[int] = mapped_column(Integer)
    start_lsn: Mapped[int] = mapped_column(BigInteger)
    stop_lsn: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    stopped_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(Text)
    compression: Mapped[str] = mapped_column(Text)
    encrypted: Mapped[bool] = mapped_column(server_default=text("false"))
    parts: Mapped[list[JSONObject]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    created_at: Mapped[dt.datetime] = columns.created()

    __table_args__ = (Index(None, "server", "stopped_at"),)


class WalHistory(Base):
    """A timeline's history file (a promoted replica's new timeline): where it branched off its
    parent, and the file itself, kept here for planning and in Telegram for a restore by hand."""

    __tablename__ = "wal_histories"

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, server_default=text("gen_random_uuid()")
    )
    server: Mapped[str] = mapped_column(Text)
    system_identifier: Mapped[str] = mapped_column(Text)
    timeline: Mapped[int] = mapped_column(Integer)  # the new timeline the file belongs to
    parent_timeline: Mapped[int] = mapped_column(Integer)
    switch_lsn: Mapped[int] = mapped_column(BigInteger)  # the parent's end, the child's start
    content: Mapped[str] = mapped_column(Text)  # the file as the server wrote it (no secrets)
    size_bytes: Mapped[int] = mapped_column(BigInteger)  # the artifact's
    sha256: Mapped[str] = mapped_column(Text)
    compression: Mapped[str] = mapped_column(Text)
    encrypted: Mapped[bool] = mapped_column(server_default=text("false"))
    parts: Mapped[list[JSONObject]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    created_at: Mapped[dt.datetime] = columns.created()

    __table_args__ = (Index(None, "server", "system_identifier", "timeline", unique=True),)


class WalMark(Base):
    """A point of a server's WAL where one database's rows were counted exactly: the reference a
    drill to a point compares a recovery with (worker.wal.marks)."""

    __tablename__ = "wal_marks"

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, server_default=text("gen_random_uuid()")
    )
    server: Mapped[str] = mapped_column(Text)
    system_identifier: Mapped[str] = mapped_column(Text)
    database: Mapped[str] = mapped_column(Text)
    # A recovery to this position (inclusive) holds exactly the rows counted.
    position: Mapped[int] = mapped_column(BigInteger)
    taken_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    tables: Mapped[dict[str, int]] = mapped_column(JSONB)  # rows per table (snapshot.key)
    drilled_at: Mapped[dt.datetime | None] = columns.timestamp()
    drill_status: Mapped[str | None] = mapped_column(Text)  # ok | failed
    drill_report: Mapped[JSONObject | None] = mapped_column(JSONB)
    created_at: Mapped[dt.datetime] = columns.created()

    __table_args__ = (Index(None, "server", "database", "position"),)
