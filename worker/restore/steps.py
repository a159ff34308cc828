"""The restore job's steps as plain functions: download (shared with verify), failure, helpers.

download: every part fetched into this host's spool and checked (size, SHA-256, then the whole
artifact's SHA-256), and the age key tried on the artifact's header; a restore also decodes the
checked parts into the local archive as they arrive (worker.restore.archive). Nothing reaches
pg_restore before all of that passed. The load step is worker/restore/load.py. The Celery tasks in
tasks/restore.py only call these.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from pathlib import Path

from db import models
from db.queries import backups as db_backups
from db.queries import drills as db_drills
from db.queries import jobs as db_jobs
from db.queries import restores as db_restores
from worker import errors
from worker.artifact import keys as identity
from worker.artifact import unpack
from worker.contract import tasks
from worker.jobs import progress, resume, spool, state
from worker.jobs.runtime import Runtime
from worker.postgres import source, target
from worker.restore import archive, drill, fetch
from worker.restore import job as rj

log = logging.getLogger(__name__)


def download_step(rt: Runtime, job_id: uuid.UUID, *, hostname: str) -> None:
    """Fetch and check every part of the job's backup, then check that our key opens it."""
    with rt.database.transaction() as session:
        found = db_jobs.get_job(session, job_id)
        files = {"artifact": spool.artifact(rt, job_id), "archive": spool.archive(rt, job_id)}
        if found is not None and resume.done_here(found, hostname, **files):
            # A copy sent again by a resume pass while the first was not lost: no new attempt.
            log.info("job %s: downloaded and checked already: download skipped", job_id)
            return
        job = db_jobs.start_job(
            session, job_id, hostname=hostname, max_attempts=rt.settings.backup_max_attempts
        )
        if job is None:
            raise errors.NotFoundError(f"job {job_id} does not exist")
        if job.status != models.JobStatus.RUNNING:
            log.info("job %s is %s: download skipped", job_id, job.status)
            return
        kind = job.type
        req = rj.RestoreRequest.from_payload(kind, job.payload)
        state.save(session, job_id, state.RestorePatch(artifact=None))
    backup = rj.load_backup(rt, req.backup_id)
    with rt.database.transaction() as session:
        copies = db_backups.copies_of(session, backup.id)
    remote = fetch.RemoteArtifact.from_backup(backup, copies)
    for part in remote.parts:
        if not part.copies:
            rt.telegram(part.bot_id)  # a bot no longer configured refuses the job now, by its id
    # Everything that can refuse the job does so before the download, not after it.
    keys = identities(rt, backup)
    if kind == rj.RESTORE:
        params = rj.server_of(rt, req, backup).params()
        _refuse_unusable_target(params, rj.check_target(rt, req, backup), req)
    path = spool.artifact(rt, job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    reporter = rj.reporter(rt, job_id, kind)
    # A restore decodes each checked part as it arrives, for the load step's pg_restore.
    decoder = None
    if kind == rj.RESTORE:
        decoder = archive.decoder(
            spool.archive(rt, job_id),
            compression=backup.compression,
            identities=keys,
            recipients=backup.encryption_recipients,
        )
    reporter.update("download", 0.0, force=True)
    started = time.monotonic()
    used: dict[int, str] = {}
    with heartbeat(rt, job_id):  # the decoding may end a while after the last download
        fetch.fetch(
            rt.telegram,
            remote,
            path,
            keep_going=kind == rj.VERIFY,
            on_bytes=reporter.amounts("download", remote.size_bytes),
            threads=rt.settings.restore_download_threads,
            consume=decoder,
            used=used,
        )
    reporter.update("verify", 0.0, force=True)
    if keys is not None and decoder is None:  # decoding proved it already
        unpack.check_identity(path, keys, backup.encryption_recipients)
    seconds = time.monotonic() - started
    log.info(
        "job %s: downloaded and checked %d part(s) of backup %s, %d bytes in %.1f s",
        job_id,
        len(remote.parts),
        backup.id,
        remote.size_bytes,
        seconds,
    )
    with rt.database.transaction() as session:
        checked = state.CheckedArtifact(path=str(path), checked=True, seconds=round(seconds, 2))
        patch = state.RestorePatch(artifact=checked)
        if copies:
            # Which repository each part was read from: a copy gone shows here first.
            patch["copies_used"] = {str(index + 1): name for index, name in sorted(used.items())}
        state.save(session, job_id, patch)


def checked_artifact(
    rt: Runtime, job_id: uuid.UUID, now: state.RestoreState, *, decoded: bool = False
) -> Path:
    """The artifact the download step checked, or with `decoded` the archive it decoded from
    it; JobStateError if it is not on this host."""
    path = spool.archive(rt, job_id) if decoded else spool.artifact(rt, job_id)
    if now.checked is None or not path.is_file():
        raise errors.JobStateError(
            f"job {job_id} has no checked download on this host ({path.parent}): "
            "it must start over from the download"
        )
    return path


def fail(rt: Runtime, job_id: uuid.UUID, exc: BaseException) -> str:
    """End the job failed with a secret-free message, record a verdict, clean the spool."""
    if isinstance(exc, errors.BackupWorkerError):
        message = exc.message
    else:
        message = f"internal error ({type(exc).__name__}); the worker log has the details"
    with rt.database.transaction() as session:
        job = db_jobs.get_job(session, job_id)
        changed = db_jobs.fail_job(session, job_id, message)
        backup_id = state.backup_id_of(job) if job is not None else None
        # Only a damaged or missing backup is a verdict; a wrong key or a network failure
        # says nothing about the backup itself.
        if changed and isinstance(exc, errors.IntegrityError) and backup_id is not None:
            db_restores.record_verification(session, backup_id, ok=False)
        if changed and job is not None and backup_id is not None and state.is_drill(job):
            report = drill.verdict(state.RestoreState.of(job).drill, message)
            db_drills.record(session, backup_id, ok=False, report=report)
    spool.remove(rt, job_id)
    return message


def heartbeat(
    rt: Runtime, job_id: uuid.UUID, interval: float = progress.HEARTBEAT_INTERVAL
) -> contextlib.AbstractContextManager[None]:
    """Keep the job's heartbeat fresh while pg_restore works without reading (index builds)."""

    def beat() -> None:
        with rt.database.transaction() as session:
            db_jobs.heartbeat(session, job_id)

    return progress.heartbeat(beat, interval)


def identities(rt: Runtime, backup: models.Backup) -> list[object] | None:
    """The age identities that open `backup`, None for an unencrypted one."""
    return identity.load(rt.settings.backup_age_identity_file) if backup.encrypted else None


def _refuse_unusable_target(params: source.SourceParams, name: str, req: rj.RestoreRequest) -> None:
    target.refuse_unusable(params, name, closed_ok=req.mode == tasks.MODE_REPLACE)
    if req.mode == tasks.MODE_REPLACE:
        if not target.exists(params, name):
            raise errors.RestoreError(
                f"database {name} does not exist: a replace swaps an existing database; "
                "restore without replace to create it"
            )
    elif not req.clean and target.exists(params, name):
        refuse_if_not_empty(params, name)


def refuse_if_not_empty(params: source.SourceParams, name: str) -> None:
    """RestoreError when the existing database `name` holds objects of its own."""
    count = target.user_objects(params, name)
    if count:
        raise errors.RestoreError(
            f"target database {name} exists and is not empty ({count} object(s) of its own): "
            "restore into a new database, or ask for clean (--clean) to drop and re-create the "
            "backup's objects in it"
        )
