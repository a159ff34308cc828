"""SQLAlchemy models of the control-plane tables, all in the PostgreSQL schema `control_plane`."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    Text,
    Uuid,
    func,
    inspect,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from db import columns

SCHEMA = "control_plane"

# Explicit names keep Alembic revisions stable and let a migration drop a constraint by name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONObject = columns.JSONObject
SHA256_PATTERN = "^[0-9a-f]{64}$"


class JobType(enum.StrEnum):
    """What a job does."""

    BACKUP = "backup"
    RESTORE = "restore"
    VERIFY = "verify"
    SEND = "send"
    RECORD = "record"


class JobStatus(enum.StrEnum):
    """Where a job is; it only moves forward, out of pending/running into a finished status."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


UNFINISHED = (JobStatus.PENDING, JobStatus.RUNNING)
FINISHED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class BackupType(enum.StrEnum):
    """What a backup holds."""

    DATABASE = "database"
    FILE = "file"


class BackupStatus(enum.StrEnum):
    """Whether a backup can still be restored."""

    ACTIVE = "active"
    EXPIRED = "expired"
    DELETED = "deleted"


class Compression(enum.StrEnum):
    """How the artifact was compressed before encryption and upload."""

    ZSTD = "zstd"
    NONE = "none"


class PartDeleteStatus(enum.StrEnum):
    """What became of an expired backup's Telegram message."""

    DELETED = "deleted"  # deleteMessage succeeded
    MISSING = "missing"  # Telegram no longer had it (deleted by hand?)
    UNDELETABLE = "undeletable"  # Telegram refused for good (older than 48 hours, no rights)


class Base(DeclarativeBase):
    """Declarative base bound to the `control_plane` schema."""

    metadata = MetaData(schema=SCHEMA, naming_convention=NAMING_CONVENTION)


class Job(Base):
    """One unit of work the gateway can show: a backup, a restore, ..."""

    __tablename__ = "jobs"

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, server_default=text("gen_random_uuid()")
    )
    type: Mapped[str] = mapped_column(Text)
    project_id: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=JobStatus.PENDING.value)
    stage: Mapped[str | None] = mapped_column(Text)
    progress: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    # The current stage's amount, when it has one (a dump, an upload, a download, pg_restore's
    # table data); None otherwise. The display derives its rate and time left from these.
    bytes_done: Mapped[int | None] = mapped_column(BigInteger)
    bytes_total: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[JSONObject] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    result: Mapped[JSONObject | None] = mapped_column(JSONB)
    celery_task_id: Mapped[str | None] = mapped_column(Text, unique=True)
    # The spool holding a backup's parts lives on this host only.
    worker_hostname: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = columns.created()
    started_at: Mapped[dt.datetime | None] = columns.timestamp()
    heartbeat_at: Mapped[dt.datetime | None] = columns.timestamp()
    finished_at: Mapped[dt.datetime | None] = columns.timestamp()
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    __table_args__ = (
        CheckConstraint(columns.one_of("type", JobType), name="type"),
        CheckConstraint(columns.one_of("status", JobStatus), name="status"),
        CheckConstraint("progress BETWEEN 0 AND 100", name="progress"),
        CheckConstraint("attempts >= 0", name="attempts"),
        CheckConstraint("jsonb_typeof(payload) = 'object'", name="payload"),
        Index("ix_jobs_project_created", "project_id", text("created_at DESC"), text("id DESC")),
        Index("ix_jobs_status_created", "status", text("created_at DESC"), text("id DESC")),
        Index("ix_jobs_created", text("created_at DESC"), text("id DESC")),
        Index("ix_jobs_running_heartbeat", "heartbeat_at", postgresql_where="status = 'running'"),
    )

    @property
    def finished(self) -> bool:
        """Whether the job reached a final status."""
        return self.status in FINISHED

    def to_json(self) -> JSONObject:
        """The row as a JSON-ready dict."""
        return columns.columns_json(self)


class Backup(Base):
    """One backup artifact kept in Telegram as one or more parts."""

    __tablename__ = "backups"

    id: Mapped[uuid.UUID] = mapped_column(
        Uuid, primary_key=True, server_default=text("gen_random_uuid()")
    )
    project_id: Mapped[str] = mapped_column(Text)
    # SET NULL: pruning old jobs must not take their backups with them.
    job_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey(f"{SCHEMA}.jobs.id", ondelete="SET NULL"), unique=True
    )
    type: Mapped[str] = mapped_column(Text, server_default=BackupType.DATABASE.value)
    database: Mapped[str | None] = mapped_column(Text)
    # The source server's name in the registry (worker/postgres/servers.py).
    server: Mapped[str] = mapped_column(Text, server_default=text("'default'"))
    # The pg_dump that wrote the archive, e.g. "15.4" (None: recorded before migration 0007).
    pg_dump_version: Mapped[str | None] = mapped_column(Text)
    filename: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(Text)
    compression: Mapped[str] = mapped_column(Text)
    encrypted: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    encryption_recipients: Mapped[list[str]] = mapped_column(
        JSONB, server_default=text("'[]'::jsonb")
    )
    chat_id: Mapped[str] = mapped_column(Text)
    message_thread_id: Mapped[int | None] = mapped_column(BigInteger)
    part_count: Mapped[int] = mapped_column(Integer)
    caption: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=BackupStatus.ACTIVE.value)
    created_at: Mapped[dt.datetime] = columns.created()
    expires_at: Mapped[dt.datetime | None] = columns.timestamp()
    verified_at: Mapped[dt.datetime | None] = columns.timestamp()
    verify_status: Mapped[str | None] = mapped_column(Text)
    # What the dump's snapshot held (worker/postgres/snapshot.py), and the last drill's verdict.
    contents: Mapped[JSONObject | None] = mapped_column(JSONB)
    drilled_at: Mapped[dt.datetime | None] = columns.timestamp()
    drill_status: Mapped[str | None] = mapped_column(Text)
    drill_report: Mapped[JSONObject | None] = mapped_column(JSONB)

    # lazy="raise": parts are loaded on purpose (db.queries.backups.get_backup), never by surprise.
    parts: Mapped[list[BackupPart]] = relationship(
        order_by="BackupPart.index",
        lazy="raise",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    __table_args__ = (
        CheckConstraint(columns.one_of("type", BackupType), name="type"),
        CheckConstraint(columns.one_of("status", BackupStatus), name="status"),
        CheckConstraint(columns.one_of("compression", Compression), name="compression"),
        CheckConstraint(f"sha256 ~ '{SHA256_PATTERN}'", name="sha256"),
        CheckConstraint("size_bytes >= 0", name="size_bytes"),
        CheckConstraint("part_count >= 1", name="part_count"),
        CheckConstraint("jsonb_typeof(encryption_recipients) = 'array'", name="recipients"),
        Index("ix_backups_project_created", "project_id", text("created_at DESC"), text("id DESC")),
        Index("ix_backups_created", text("created_at DESC"), text("id DESC")),
        Index("ix_backups_active_expires", "expires_at", postgresql_where="status = 'active'"),
        # Latest active backup per project (DISTINCT ON) as one index-only scan, no sort.
        Index(
            "ix_backups_active_latest",
            "project_id",
            text("created_at DESC"),
            text("id DESC"),
            postgresql_where="status = 'active'",
        ),
        # Counts and bytes by status and type (db.queries.stats.stats) as one index-only scan.
        Index("ix_backups_status_type_size", "status", "type", postgresql_include=["size_bytes"]),
    )

    def to_json(self) -> JSONObject:
        """The row as a JSON-ready dict; `parts` is included only when they were loaded."""
        data = columns.columns_json(self)
        data.pop("contents", None)  # one count per table: the drill's report shows them
        if "parts" not in inspect(self).unloaded:
            data["parts"] = [part.to_json() for part in self.parts]
        return data


class BackupPart(Base):
    """One uploaded Telegram document holding a slice of a backup artifact."""

    __tablename__ = "backup_parts"

    backup_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey(f"{SCHEMA}.backups.id", ondelete="CASCADE"), primary_key=True
    )
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_id: Mapped[str] = mapped_column(Text)
    file_unique_id: Mapped[str] = mapped_column(Text)
    message_id: Mapped[int] = mapped_column(BigInteger)
    chat_id: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(Text)
    # The bot that uploaded it (token prefix): a file_id works for that bot only. NULL (parts
    # recorded before migration 0005): the first configured bot (docs/fleet.md).
    bot_id: Mapped[str | None] = mapped_column(Text)
    # Expiry sweep (worker/scheduling/sweep.py): NULL until deleteMessage settled the part's fate.
    delete_status: Mapped[str | None] = mapped_column(Text)
    delete_error: Mapped[str | None] = mapped_column(Text)
    delete_attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    delete_attempted_at: Mapped[dt.datetime | None] = columns.timestamp()

    __table_args__ = (
        CheckConstraint('"index" >= 0', name="index"),
        CheckConstraint("size_bytes >= 0", name="size_bytes"),
        CheckConstraint(f"sha256 ~ '{SHA256_PATTERN}'", name="sha256"),
        CheckConstraint(
            f"delete_status IS NULL OR {columns.one_of('delete_status', PartDeleteStatus)}",
            name="delete_status",
        ),
    )

    def to_json(self) -> JSONObject:
        """The row as a JSON-ready dict."""
        return columns.columns_json(self)


class BackupPartCopy(Base):
    """A further copy (1, 2, ...) of a backup part, in another repository; copy 0 is the
    BackupPart itself (docs/fleet.md, "Copies")."""

    __tablename__ = "backup_part_copies"

    backup_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    copy: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository: Mapped[str] = mapped_column(Text)
    file_id: Mapped[str] = mapped_column(Text)
    file_unique_id: Mapped[str] = mapped_column(Text)
    message_id: Mapped[int] = mapped_column(BigInteger)
    chat_id: Mapped[str] = mapped_column(Text)
    bot_id: Mapped[str | None] = mapped_column(Text)
    # Set by the expiry sweep once deleteMessage settled this copy's fate, as for BackupPart.
    delete_status: Mapped[str | None] = mapped_column(Text)
    delete_attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    delete_attempted_at: Mapped[dt.datetime | None] = columns.timestamp()

    __table_args__ = (
        CheckConstraint('"copy" >= 1', name="copy"),
        ForeignKeyConstraint(
            ["backup_id", "index"],
            [f"{SCHEMA}.backup_parts.backup_id", f"{SCHEMA}.backup_parts.index"],
            ondelete="CASCADE",
        ),
    )

    def to_json(self) -> JSONObject:
        """The row as a JSON-ready dict."""
        return columns.columns_json(self)


def job_json(job: Job) -> JSONObject:
    """`job.to_json()`, as a function for map()."""
    return job.to_json()


def backup_json(backup: Backup) -> JSONObject:
    """`backup.to_json()`, as a function for map(); parts only when loaded."""
    return backup.to_json()
