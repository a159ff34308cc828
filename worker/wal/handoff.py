"""A recovered database handed to the existing restore path, for a replace in place with undo.

The dump taken from the scratch instance is sent and recorded as an ordinary database backup
of the project (server and database set, a caption naming the target), so that the restore
job (`backups.restore`, mode replace) loads it as the project's restore role, swaps it in and
keeps the replaced database as its undo point, exactly as for any other backup.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from db import models
from db.queries import backups as db_backups
from worker import errors
from worker.backup import send
from worker.jobs.runtime import Runtime


def record_as_backup(
    rt: Runtime, archive: Path, *, project_id: str, database: str, server: str, target: str
) -> uuid.UUID:
    """Send `archive` and record it as a backup of `database` on `server`; its id."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    with archive.open("rb") as source:
        sent = send.send_stream(
            rt,
            source,
            project_id=project_id,
            name=f"{database}_pitr_{stamp}.pgdump",
            caption=f"point-in-time {target}",
        )
    if not sent.parts:
        raise errors.WalError("the recovered database's dump was sent as no part at all")
    days = rt.settings.backup_retention_days
    with rt.database.transaction() as session:
        row, _ = db_backups.record_backup(
            session,
            db_backups.NewBackup(
                project_id=project_id,
                job_id=None,
                type=models.BackupType.DATABASE,
                database=database,
                filename=sent.artifact.filename,
                size_bytes=sent.artifact.size_bytes,
                sha256=sent.artifact.sha256,
                compression=sent.artifact.compression,
                encrypted=sent.artifact.encrypted,
                encryption_recipients=list(sent.artifact.recipients),
                chat_id=sent.parts[0]["chat_id"],
                message_thread_id=rt.settings.telegram_thread_id,
                caption=f"point-in-time {target}",
                expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=days),
                parts=[send.new_part(part) for part in sent.parts],
            ),
        )
        row.server = server
        return row.id
