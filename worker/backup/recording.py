"""The record step: the backup, its parts and their further copies written in one transaction
with the job's completion; and the backup as the job's result shows it (backup_summary).

Keyed on the job id and idempotent like the steps before it (worker.backup.steps).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

from db import models
from db.queries import backups as db_backups
from db.queries import jobs as db_jobs
from worker import errors
from worker.artifact import manifest
from worker.jobs import owner, spool, state
from worker.jobs.runtime import Runtime

log = logging.getLogger(__name__)


def record_step(rt: Runtime, job_id: uuid.UUID, *, hostname: str) -> None:
    """Write the backup and its parts in one transaction with the job's completion."""
    with rt.database.transaction() as session:
        job = owner.current_attempt_in(session, job_id, hostname)
        if job is None:
            return
        now = state.BackupState.of(job)
        art = now.manifest(job_id)
        uploaded = now.uploaded
        missing = [part.index + 1 for part in art.parts if str(part.index) not in uploaded]
        if missing:
            # This chain's upload step sent every part before it sent us, so this is a record
            # step of an earlier chain, run after the job started again on this host (a step
            # carries no attempt number): the newer attempt's own chain records the job.
            raise errors.AttemptSuperseded(
                f"parts {missing} of job {job_id} are not uploaded yet: this record step is "
                "from an earlier run of the job"
            )
        copies = _copies(rt, now, art, job_id)
        payload = state.BackupPayload.of(job)
        req = payload.request
        days = req.expires_in_days or rt.settings.backup_retention_days
        parts = [
            db_backups.NewPart(
                index=part.index,
                file_id=uploaded[str(part.index)]["file_id"],
                file_unique_id=uploaded[str(part.index)]["file_unique_id"],
                message_id=uploaded[str(part.index)]["message_id"],
                chat_id=uploaded[str(part.index)]["chat_id"],
                bot_id=uploaded[str(part.index)].get("bot_id"),
                size_bytes=part.size_bytes,
                sha256=part.sha256,
            )
            for part in art.parts
        ]
        new = db_backups.NewBackup(
            project_id=req.project_id,
            job_id=job_id,
            type="database",
            database=req.database,
            filename=art.filename,
            size_bytes=art.size_bytes,
            sha256=art.sha256,
            compression=art.compression,
            encrypted=art.encrypted,
            encryption_recipients=list(art.recipients),
            # The first configured chat; with several chats each part records its own.
            chat_id=now.chat_id or payload.chat_id,
            message_thread_id=payload.thread_id,
            caption=req.caption,
            expires_at=datetime.now(UTC) + timedelta(days=days),
            parts=parts,
            server=req.server,
            contents=now.contents,
            pg_dump_version=now.pg_dump_version,
        )
        row, created = db_backups.record_backup(session, new)
        if created and copies:
            db_backups.record_copies(session, row.id, copies)
        summary = backup_summary(row)
        if now.chat_id:
            summary["migrated_to_chat_id"] = now.chat_id
        db_jobs.complete_job(session, job_id, {"backup": summary}, replace=True, stage="record")
    spool.remove(rt, job_id)
    log.info("job %s: recorded backup %s (%s)", job_id, row.id, "new" if created else "existing")


def _copies(
    rt: Runtime, now: state.BackupState, art: manifest.Artifact, job_id: uuid.UUID
) -> list[db_backups.NewCopy]:
    """Copies 1, 2, ... of every part, as the upload step sent them; AttemptSuperseded (as
    for copy 0) when one is missing."""
    if rt.settings.backup_copies <= 1:
        return []
    found = []
    for number, repo in enumerate(rt.repositories().targets[1:], start=1):
        sent = now.copies.get(repo.name, {})
        missing = [part.index + 1 for part in art.parts if str(part.index) not in sent]
        if missing:
            raise errors.AttemptSuperseded(
                f"parts {missing} of copy {number + 1} (repository {repo.name}) of job "
                f"{job_id} are not uploaded yet: this record step is from an earlier run"
            )
        found += [
            db_backups.NewCopy(
                index=part.index,
                copy=number,
                repository=repo.name,
                file_id=sent[str(part.index)]["file_id"],
                file_unique_id=sent[str(part.index)]["file_unique_id"],
                message_id=sent[str(part.index)]["message_id"],
                chat_id=sent[str(part.index)]["chat_id"],
                bot_id=sent[str(part.index)].get("bot_id"),
            )
            for part in art.parts
        ]
    return found


def backup_summary(row: models.Backup) -> dict[str, object]:
    """The backup as the CLI's --json and the job's result show it."""
    return {
        "id": str(row.id),
        "project_id": row.project_id,
        "database": row.database,
        "server": row.server,
        "pg_dump_version": row.pg_dump_version,
        "filename": row.filename,
        "size_bytes": row.size_bytes,
        "sha256": row.sha256,
        "compression": row.compression,
        "encrypted": row.encrypted,
        "chat_id": row.chat_id,
        "part_count": row.part_count,
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "parts": [
            {
                "index": part.index,
                "file_id": part.file_id,
                "file_unique_id": part.file_unique_id,
                "message_id": part.message_id,
                "size_bytes": part.size_bytes,
                "sha256": part.sha256,
                "chat_id": part.chat_id,
                "bot_id": part.bot_id,  # None: the first configured bot (docs/fleet.md)
            }
            for part in row.parts
        ],
    }
