"""The backup job's steps as plain functions: dump, upload, record (their failure: backupend).

Each step is keyed on the job id and idempotent: a redelivered step finds its own earlier work in
the jobs row (the artifact's manifest, the parts already sent) and does not repeat it. The Celery
tasks in tasks/backup.py only call these.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from db import models
from db.queries import backups as db_backups
from db.queries import jobs as db_jobs
from worker import errors
from worker.artifact import manifest, stream
from worker.backup import copying, dump, ending, overlap, upload
from worker.backup import sent as sent_parts
from worker.jobs import deferral, owner, progress, resume, slot, spool, state
from worker.jobs.runtime import Runtime
from worker.postgres import clients, source
from worker.postgres import dump as pgdump
from worker.telegram import pacer as fleetpacer

log = logging.getLogger(__name__)

COMPRESSION = "zstd"


def dump_step(rt: Runtime, job_id: uuid.UUID, *, hostname: str) -> None:
    """pg_dump the database into compressed (and maybe encrypted) parts in the spool, sending
    finished parts to Telegram while the next ones are written."""
    reporter = owner.reporter(rt, job_id)
    with rt.database.transaction() as session:
        found = db_jobs.get_job(session, job_id)
        if found is not None and found.worker_hostname not in (None, hostname):
            log.warning("job %s: claimed by %s, stale dump skipped", job_id, found.worker_hostname)
            return
        if found is not None and resume.done_here(found, hostname, **_files(rt, job_id)):
            # A copy sent again by a resume pass while the first was not lost: no new attempt.
            log.info("job %s: dumped already, its parts are in the spool: dump skipped", job_id)
            return
        job = db_jobs.start_job(
            session, job_id, hostname=hostname, max_attempts=rt.settings.backup_max_attempts
        )
        if job is None:
            raise errors.NotFoundError(f"job {job_id} does not exist")
        if job.status != models.JobStatus.RUNNING:
            log.info("job %s is %s: dump skipped", job_id, job.status)
            return
        attempt = job.attempts
        req = state.BackupPayload.of(job).request
        # A new dump gives new bytes: parts sent by an earlier attempt no longer match it.
        stale = state.BackupState.of(job).uploaded
        stale_copies = list(state.BackupState.of(job).copies.values())
        where = sent_parts.destination(job, rt.chat_ids())
        sent = sent_parts.Sent(rt, job_id, hostname, attempt, where, {})
        patch = state.BackupPatch(artifact=None, uploaded={})
        if rt.settings.backup_copies > 1 or stale_copies:
            # Every further copy named now, empty: the resume pass sees what is still to send.
            extra = rt.repositories().targets[1:] if rt.settings.backup_copies > 1 else ()
            patch["copies"] = {repo.name: {} for repo in extra}
        state.save(session, job_id, patch)
        db_jobs.set_progress(session, job_id, stage="dump", progress=reporter.written("dump", 0))
        session.expunge(job)
    if stale:
        owner.delete_sent_parts(rt, stale)
    for copy in stale_copies:
        if copy:
            owner.delete_sent_parts(rt, copy)
    config = rt.settings
    directory = spool.directory(rt, job_id)
    server = rt.registry().get(req.server)
    params = server.params()
    pg_dump = clients.for_server("pg_dump", params)  # DumpError naming both versions
    estimate = source.estimate_dump_size(params, req.database)
    seen = [0, 0]  # pg_dump bytes read, part bytes written: what the dump needed so far

    def full() -> str:
        tables = f" (its tables hold about {estimate:,} bytes)" if estimate else ""
        return (
            f"spool directory {config.backup_spool_dir} on {hostname} is full: the dump of "
            f"{req.database} had written {seen[1]:,} bytes of parts from {seen[0]:,} bytes of "
            f"pg_dump output{tables} when a write failed"
        )

    with ending.full_spool_retried(full, attempt):
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True, exist_ok=True)
    sender = rt.sender()  # no token: fail now, not after the whole dump
    names: dict[int, str] = {}

    def send_early(part: manifest.PartFile) -> None:
        record, migrated = upload.send_part(sender, part, None, sent.where, on_wait=sent.note_wait)
        names[part.index] = part.path.name
        sent.add(record, migrated)

    early_sender = overlap.PartSender(send_early)

    def on_bytes(raw: int, written: int) -> None:
        seen[:] = raw, written
        early_sender.check()
        # The estimate is the tables' size on disk: once passed, the total is not known.
        total = estimate if estimate and raw < estimate else None
        amount = progress.Amount(raw, total)
        reporter.update("dump", min(raw / estimate, 0.99) if estimate else 0.0, amount)

    name = req.filename or stream.artifact_filename(
        req.project_id,
        req.database,
        job_id,
        when=datetime.now(UTC),
        compression=COMPRESSION,
        encrypted=bool(config.backup_age_recipients),
    )
    started = time.monotonic()
    with (
        slot.holding(rt, job_id, server),
        ending.full_spool_retried(full, attempt),
        early_sender.running(),
    ):
        result, contents = dump.counted_dump(
            params,
            req.database,
            directory,
            name,
            count_rows=dump.should_count(config.row_counts_limit, estimate),
            part_size=config.backup_part_size,
            # Parts sent while pg_dump runs: small first ones put the link to work early.
            first_part_size=stream.ramp_start(config.backup_part_size),
            compression=COMPRESSION,
            zstd_level=config.backup_zstd_level,
            zstd_threads=config.backup_zstd_threads,
            recipients=config.backup_age_recipients,
            on_bytes=on_bytes,
            on_part=early_sender.offer,
            announce_last=False,  # the sender sends each part it is told of at once
            lock_wait_timeout=config.source_lock_wait_timeout,
            application_name=pgdump.application_name(job_id),
            program=pg_dump.path,
        )
    early_sender.check()
    early = sent.parts
    if any(result.parts[int(index)].path.name != names[int(index)] for index in early):
        # Past 999 parts the writer renumbers every part: the early ones carry old names.
        owner.delete_sent_parts(rt, early)
        early = {}
    log.info(
        "job %s: dumped %s into %d part(s), %d bytes from %d in %.1f s, %d sent meanwhile",
        job_id,
        req.database,
        len(result.parts),
        result.size_bytes,
        result.raw_bytes,
        time.monotonic() - started,
        len(early),
    )
    with rt.database.transaction() as session:
        owner.still_ours(session, job_id, hostname, attempt)
        patch = state.BackupPatch(
            artifact=result.to_json(),
            uploaded=early,
            contents=contents.to_json(),
            pg_dump_version=pg_dump.version,
        )
        state.save(session, job_id, patch)
        db_jobs.set_progress(session, job_id, stage="dump", progress=progress.overall("dump", 1))


def _files(rt: Runtime, job_id: uuid.UUID) -> dict[str, Path]:
    return {"artifact": spool.artifact(rt, job_id), "archive": spool.archive(rt, job_id)}


def upload_step(rt: Runtime, job_id: uuid.UUID, *, hostname: str) -> None:
    """Send every part not yet sent; remember each one's Telegram ids as soon as it is sent.

    A part whose slot is far off raises PacerDeferred, keeping the slot, after writing the
    wait and the slot into the jobs row (worker.jobs.deferral): the step's next run, whichever
    message brings it, takes the slot from there.
    """
    reporter = owner.reporter(rt, job_id)
    job = owner.current_attempt(
        rt, job_id, hostname, stage=("upload", reporter.written("upload", 0))
    )
    if job is None:
        return
    art = state.BackupState.of(job).manifest(job_id)
    # Copy 0 through TELEGRAM_BOT_TOKEN's bots as always; copies 1, 2, ... each through its
    # repository's bots, batch by batch (docs/fleet.md, "Copies").
    extra = rt.repositories().targets[1:] if rt.settings.backup_copies > 1 else ()
    copies = [copying.Copy(sent_parts.Sent.of(rt, job, hostname), rt.sender())] + [
        copying.Copy(sent_parts.Sent.copy_of(rt, job, hostname, repo), rt.sender(repo))
        for repo in extra
    ]
    last = (len(copies) - 1, art.parts[-1].index)

    def on_sent(number: int, part: upload.SentPartJSON, migrated: upload.Migration | None) -> None:
        # The last part's transaction also carries the stage's end: one write fewer.
        is_last = (number, part["index"]) == last
        end = ("upload", reporter.written("upload", 1.0)) if is_last else None
        copies[number].sent.add(part, migrated, stage=end)

    try:
        copying.send(
            copies,
            art,
            on_sent=on_sent,
            amounts=reporter.amounts("upload", art.size_bytes * len(copies)),
            max_wait=rt.settings.telegram_pacer_max_sleep,
            reserved=fleetpacer.Reservation.from_json(deferral.take(rt, job)),
        )
    except errors.PacerDeferred as exc:
        deferral.note(rt, job_id, hostname, step="upload", seconds=exc.seconds, slot=exc.slot)
        raise


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
