"""What the gateway reads back: the jobs row, a backup's row, the stats, each public task's result.

These models describe data the worker writes (db/ holds the tables); they exist so that one
JSON Schema (worker.contract.schema) can carry them to the gateway's generated types. A test
holds each row model to the real table's columns (tests/integration/contract/test_rows.py).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict

# pydantic reads a TypedDict's fields only from typing_extensions' on Python < 3.12.
from typing_extensions import TypedDict

JobType = Literal["backup", "restore", "verify", "send", "record"]
JobStatus = Literal["pending", "running", "completed", "failed", "cancelled"]
BackupStatus = Literal["active", "expired", "deleted"]


class BatchItem(TypedDict):
    """One line of backups.create_batch's report: a job id when queued, an error when refused."""

    index: int
    status: str  # "queued" or "refused"
    job_id: str | None
    error: str | None


class RegisterPart(BaseModel):
    """One item of backups.register's `parts`: a message already in the backup chat."""

    model_config = ConfigDict(title="RegisterPart")

    file_id: str
    message_id: int
    size_bytes: int
    sha256: str  # 64 lowercase hex digits, of this part's bytes as sent


class BackupPart(BaseModel):
    """One part of a recorded backup, as the job's `result.backup.parts` shows it."""

    index: int
    file_id: str
    file_unique_id: str
    message_id: int
    size_bytes: int
    sha256: str
    chat_id: str
    bot_id: str | None  # None: the first configured bot


class BackupSummary(BaseModel):
    """A completed backup job's `result.backup` (worker.backup.recording.backup_summary)."""

    id: uuid.UUID
    project_id: str
    database: str | None
    server: str
    pg_dump_version: str | None
    filename: str
    size_bytes: int
    sha256: str
    compression: str
    encrypted: bool
    chat_id: str
    part_count: int
    expires_at: dt.datetime | None
    parts: list[BackupPart]
    migrated_to_chat_id: str | None = None  # set when the chat moved since the upload


class JobResult(BaseModel):
    """The jobs row's `result`: `backup` once a backup completed, a restore's `restore`, a
    verification's `verification`; `waiting` while a part waits for Telegram's rate limit."""

    model_config = ConfigDict(extra="allow")

    backup: BackupSummary | None = None
    restore: dict[str, object] | None = None
    verification: dict[str, object] | None = None
    waiting: dict[str, object] | None = None


class JobRow(BaseModel):
    """The columns of control_plane.jobs the gateway reads (docs/contract.md, "The jobs table")."""

    id: uuid.UUID
    type: JobType
    project_id: str
    status: JobStatus
    stage: str | None
    progress: int  # 0-100
    bytes_done: int | None  # the current stage's bytes, when it has an amount
    bytes_total: int | None  # None while the stage's size is unknown
    error: str | None  # for people, without secrets
    result: JobResult | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    heartbeat_at: dt.datetime | None
    finished_at: dt.datetime | None


class BackupRow(BaseModel):
    """The columns of control_plane.backups the gateway lists."""

    id: uuid.UUID
    project_id: str
    job_id: uuid.UUID | None
    type: Literal["database", "file"]
    database: str | None
    server: str
    filename: str
    size_bytes: int
    sha256: str
    compression: str
    encrypted: bool
    chat_id: str
    part_count: int
    caption: str | None
    status: BackupStatus
    created_at: dt.datetime
    expires_at: dt.datetime | None
    verified_at: dt.datetime | None
    verify_status: str | None


class LatestBackup(BaseModel):
    """The newest active backup of one project (db.queries.stats.LatestBackup)."""

    project_id: str
    backup_id: uuid.UUID
    created_at: dt.datetime
    age_seconds: int


class BackupStats(BaseModel):
    """The dashboard's figures (db.queries.stats.BackupStats): counts by status and type over
    every row; bytes, `expiring_soon` (within 7 days, overdue included) and `latest` over
    active backups only."""

    by_status: dict[str, int]
    by_type: dict[str, int]
    total: int
    total_bytes: int
    expiring_soon: int
    latest: list[LatestBackup]
