"""The backup job's first steps as plain functions: dump and upload (the record step is in
worker.backup.recording; their failure in worker.backup.ending).

Each step is keyed on the job id and idempotent: a redelivered step finds its own earlier work in
the jobs row (the artifact's manifest, the parts already sent) and does not repeat it. The Celery
tasks in tasks/backup.py only call these.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from db import models
from db.queries import backups as db_backups
from db.queries import jobs as db_jobs
from worker import errors
from worker.artifact import growing, manifest, stream
from worker.backup import copying, dump, ending, overlap, turns, upload
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
        previous = db_backups.last_size(session, req.project_id, req.server, req.database)
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
    recording = threading.Lock()  # two parts may be answered at once (worker.backup.turns)
    name = req.filename or stream.artifact_filename(
        req.project_id,
        req.database,
        job_id,
        when=datetime.now(UTC),
        compression=COMPRESSION,
        encrypted=bool(config.backup_age_recipients),
    )
    first_settled = threading.Event()  # the first part was sent as written, or could not be

    def send_early(part: overlap.Offered, left: turns.Left) -> None:
        on_left = left if sender.overlaps(config.backup_part_size) else None
        if isinstance(part, growing.Growing):
            try:
                record, migrated = upload.send_growing(
                    sender, part, sent.where, on_wait=sent.note_wait, on_left=on_left
                )
                with recording:
                    names[part.index] = part.path.name
                    sent.add(record, migrated)
            except errors.PartCut as exc:
                log.info("job %s: first part not sent as written: %s", job_id, exc.message)
            finally:
                first_settled.set()
            return
        if part.index == growing.Growing.index:
            # The first part, complete: sent as it was written, unless that was cut short. The
            # parts after it wait only for their turn (on a slow link, the first's last block).
            first_settled.wait()
            if str(part.index) in sent.parts:
                return
        record, migrated = upload.send_part(
            sender, part, None, sent.where, on_wait=sent.note_wait, on_left=on_left
        )
        with recording:
            names[part.index] = part.path.name
            sent.add(record, migrated)

    early_sender = overlap.PartSender(send_early)
    # Parts sent while pg_dump runs. The first is as small as keeps the part count of the last
    # backup's size, and goes while it is written (worker.artifact.growing) when the database is
    # not small and its last backup, if any, went past one first part.
    first_size = stream.first_part_size(config.backup_part_size, previous)
    first: growing.Growing | None = None
    if growing.worth_streaming(estimate, first_size, previous):
        first_path = directory / manifest.part_name(name, 0)
        first = growing.Growing(first_path, first_size, started=early_sender.offer)
    else:
        first_settled.set()

    def on_bytes(raw: int, written: int) -> None:
        seen[:] = raw, written
        early_sender.check()
        # The estimate is the tables' size on disk: once passed, the total is not known.
        total = estimate if estimate and raw < estimate else None
        amount = progress.Amount(raw, total)
        reporter.update("dump", min(raw / estimate, 0.99) if estimate else 0.0, amount)

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
            first_part_size=first_size,
            first_watch=first,
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
