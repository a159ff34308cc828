"""Send-only and record-only: the original service's operations, on the backup's own paths.

send: any file or stream (a dump made elsewhere) goes through the same split, compression,
encryption and upload as a backup, and comes back as Telegram ids; it can be recorded too.
register: parts that are already in Telegram are recorded by file id, after getFile shows
that Telegram knows each one; a message another backup records is refused, and a part the
ledger does not show the worker sending for the project is only ever forgotten, never deleted.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from db import models
from db.queries import backups as db_backups
from db.queries import jobs as db_jobs
from db.queries import scope as db_scope
from worker import errors
from worker.artifact import manifest
from worker.artifact import stream as artifact
from worker.backup import upload
from worker.contract import request
from worker.jobs.runtime import Runtime

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Sent:
    """What a send-only call put into Telegram."""

    artifact: manifest.Artifact
    parts: list[upload.SentPartJSON]

    def to_json(self) -> dict[str, object]:
        """The outcome as the CLI prints it."""
        return {
            "filename": self.artifact.filename,
            "size_bytes": self.artifact.size_bytes,
            "sha256": self.artifact.sha256,
            "compression": self.artifact.compression,
            "encrypted": self.artifact.encrypted,
            "part_count": len(self.parts),
            "parts": list(self.parts),
        }


def send_stream(
    rt: Runtime,
    source: BinaryIO,
    *,
    project_id: str,
    name: str,
    caption: str | None = None,
    compress: bool = True,
    on_bytes: Callable[[str, int], None] | None = None,
) -> Sent:
    """Split (and compress, and encrypt when recipients are set) `source`, then send the parts."""
    project = request.validate_project_id(project_id)
    if request.validate_filename(name) is None:
        raise errors.InputError("a file name is required")
    request.validate_caption(caption, project, name)
    config = rt.settings
    compression = "zstd" if compress else "none"
    suffix = (".zst" if compress else "") + (".age" if config.backup_age_recipients else "")
    config.backup_spool_dir.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="send-", dir=config.backup_spool_dir))
    try:
        art = artifact.write_artifact(
            source,
            directory,
            name + suffix,
            part_size=config.backup_part_size,
            compression=compression,
            zstd_level=config.backup_zstd_level,
            zstd_threads=config.backup_zstd_threads,
            recipients=config.backup_age_recipients,
            on_bytes=None if on_bytes is None else lambda raw, _out: on_bytes("split", raw),
        )
        sent: list[upload.SentPartJSON] = []
        where = upload.Destination(
            chat_id=rt.chat_id(),
            thread_id=config.telegram_thread_id,
            project_id=project,
            label=name,
            caption=caption,
            chats=rt.chat_ids(),
        )
        upload.send_parts(
            rt.sender(),
            art,
            where,
            on_sent=lambda part, _migrated: sent.append(part),
            on_bytes=None if on_bytes is None else lambda n: on_bytes("upload", n),
        )
        return Sent(art, sent)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def record_sent(
    rt: Runtime, sent: Sent, *, project_id: str, expires_in_days: int | None = None
) -> models.Backup:
    """Record a send-only upload as a backup of type 'file' (with a completed 'send' job)."""
    parts = [new_part(part) for part in sent.parts]
    return _record(
        rt,
        job_type=models.JobType.SEND,
        project_id=project_id,
        filename=sent.artifact.filename,
        size_bytes=sent.artifact.size_bytes,
        sha256=sent.artifact.sha256,
        compression=sent.artifact.compression,
        recipients=list(sent.artifact.recipients),
        chat_id=sent.parts[0]["chat_id"],
        expires_in_days=expires_in_days,
        parts=parts,
    )


def register(
    rt: Runtime,
    *,
    project_id: object,
    filename: object,
    parts: object,
    sha256: object = None,
    compression: object = "zstd",
    expires_in_days: object = None,
    check: bool = True,
) -> models.Backup:
    """Record parts already in Telegram by file id, as a backup of type 'file'."""
    project = request.validate_project_id(project_id)
    name = request.validate_filename(filename)
    if name is None:
        raise errors.InputError("a file name is required")
    days = request.validate_expiry(expires_in_days)
    if compression not in ("zstd", "none"):
        raise errors.InputError("compression must be 'zstd' or 'none'")
    new_parts = _parse_parts(parts, rt.chat_id())
    whole = new_parts[0].sha256 if len(new_parts) == 1 and sha256 is None else sha256
    if not isinstance(whole, str) or not _SHA256.fullmatch(whole):
        raise errors.InputError(
            "sha256 of the whole artifact (64 lowercase hex digits) is required"
        )
    if check:
        client = rt.telegram()
        for part in new_parts:
            known = client.get_file(part.file_id)
            if known.file_size is not None and known.file_size != part.size_bytes:
                raise errors.IntegrityError(
                    f"part {part.index + 1}: Telegram has {known.file_size} bytes for this "
                    f"file id, not {part.size_bytes}"
                )
    return _record(
        rt,
        foreign=_foreign_parts(rt, project, new_parts),
        job_type=models.JobType.RECORD,
        project_id=project,
        filename=name,
        size_bytes=sum(part.size_bytes for part in new_parts),
        sha256=whole,
        compression=str(compression),
        recipients=[],
        chat_id=new_parts[0].chat_id,
        expires_in_days=days,
        parts=new_parts,
    )


def _foreign_parts(rt: Runtime, project: str, parts: Sequence[db_backups.NewPart]) -> list[int]:
    """The parts whose message the ledger does not show the worker's own bot sending for this
    project: never deleted, only forgotten. InputError for a message another backup records."""
    foreign = []
    with rt.database.transaction() as session:
        for part in parts:
            if db_scope.recorded_part(session, part.chat_id, part.message_id) is not None:
                raise errors.InputError(
                    f"part {part.index + 1}: message {part.message_id} in chat {part.chat_id} "
                    "is already recorded for another backup"
                )
            if not db_scope.sent_for_project(session, part.chat_id, part.message_id, project):
                foreign.append(part.index)
    return foreign


def _parse_parts(parts: object, default_chat: str) -> list[db_backups.NewPart]:
    if not isinstance(parts, Sequence) or isinstance(parts, str) or not parts:
        raise errors.InputError("parts must be a non-empty list of objects")
    parsed = []
    for index, part in enumerate(parts):
        if not isinstance(part, Mapping):
            raise errors.InputError(f"part {index + 1} must be an object")
        try:
            parsed.append(
                db_backups.NewPart(
                    index=index,
                    file_id=_text(part["file_id"]),
                    file_unique_id=_text(part.get("file_unique_id") or part["file_id"]),
                    message_id=int(part["message_id"]),
                    chat_id=str(part.get("chat_id") or default_chat),
                    size_bytes=int(part["size_bytes"]),
                    sha256=_text(part["sha256"]),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise errors.InputError(
                f"part {index + 1}: needs file_id, message_id, size_bytes and sha256 ({exc})"
            ) from None
    return parsed


def _text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError("expected a non-empty string")
    return value


def new_part(part: upload.SentPartJSON) -> db_backups.NewPart:
    """A sent part as the backups table records it."""
    return db_backups.NewPart(
        index=part["index"],
        file_id=part["file_id"],
        file_unique_id=part["file_unique_id"],
        message_id=part["message_id"],
        chat_id=part["chat_id"],
        size_bytes=part["size_bytes"],
        sha256=part["sha256"],
        bot_id=part.get("bot_id"),
    )


def _record(
    rt: Runtime,
    *,
    job_type: str,
    project_id: str,
    filename: str,
    size_bytes: int,
    sha256: str,
    compression: str,
    recipients: list[str],
    chat_id: str,
    expires_in_days: int | None,
    parts: list[db_backups.NewPart],
    foreign: Sequence[int] = (),
) -> models.Backup:
    job_id = uuid.uuid4()
    days = expires_in_days or rt.settings.backup_retention_days
    with rt.database.transaction() as session:
        db_jobs.create_job(
            session,
            job_id=job_id,
            type=job_type,
            project_id=project_id,
            payload={"filename": filename},
            celery_task_id=None,
        )
        row, _ = db_backups.record_backup(
            session,
            db_backups.NewBackup(
                project_id=project_id,
                job_id=job_id,
                type=models.BackupType.FILE,
                database=None,
                filename=filename,
                size_bytes=size_bytes,
                sha256=sha256,
                compression=compression,
                encrypted=bool(recipients),
                encryption_recipients=recipients,
                chat_id=chat_id,
                message_thread_id=rt.settings.telegram_thread_id,
                caption=None,
                expires_at=datetime.now(UTC) + timedelta(days=days),
                parts=parts,
            ),
        )
        db_scope.forget_only(session, row.id, foreign)
        db_jobs.complete_job(session, job_id, {"backup_id": str(row.id)})
        loaded = db_backups.get_backup(session, row.id)
        if loaded is None:
            raise errors.NotFoundError(f"backup {row.id} vanished right after it was recorded")
        return loaded
