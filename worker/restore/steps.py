"""The restore job's steps as plain functions: download (shared with verify), load, failure.

download: every part fetched into this host's spool and checked (size, SHA-256, then the whole
artifact's SHA-256), and the age key tried on the artifact's header: nothing reaches pg_restore
before all of that passed. load: the target database checked (or created), then one streaming
pass artifact → age → zstd → `pg_restore --single-transaction`. The Celery tasks in
tasks/restore.py only call these.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from pathlib import Path

from db import jobs as db_jobs
from db import models
from db import restores as db_restores
from worker import errors
from worker.artifact import keys as identity
from worker.artifact import unpack
from worker.jobs import progress, spool, state
from worker.jobs.runtime import Runtime
from worker.postgres import pgrestore, source, target
from worker.restore import fetch
from worker.restore import job as rj

log = logging.getLogger(__name__)


def download_step(rt: Runtime, job_id: uuid.UUID, *, hostname: str) -> None:
    """Fetch and check every part of the job's backup, then check that our key opens it."""
    with rt.database.transaction() as session:
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
    remote = fetch.RemoteArtifact.from_backup(backup)
    for part in remote.parts:
        rt.telegram(part.bot_id)  # a bot no longer configured refuses the job now, by its id
    # Everything that can refuse the job does so before the download, not after it.
    keys = _identities(rt, backup)
    if kind == rj.RESTORE:
        _refuse_unusable_target(rt, rj.check_target(rt, req, backup), clean=req.clean)
    path = spool.artifact(rt, job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    reporter = rj.reporter(rt, job_id, kind)
    total = max(remote.size_bytes, 1)
    reporter.update("download", 0.0, force=True)
    started = time.monotonic()
    fetch.fetch(
        rt.telegram,
        remote,
        path,
        keep_going=kind == rj.VERIFY,
        on_bytes=lambda done: reporter.update("download", done / total),
    )
    reporter.update("verify", 0.0, force=True)
    if keys is not None:
        unpack.check_identity(path, keys, backup.encryption_recipients)
    log.info(
        "job %s: downloaded and checked %d part(s) of backup %s, %d bytes in %.1f s",
        job_id,
        len(remote.parts),
        backup.id,
        remote.size_bytes,
        time.monotonic() - started,
    )
    with rt.database.transaction() as session:
        checked = state.CheckedArtifact(path=str(path), checked=True)
        state.save(session, job_id, state.RestorePatch(artifact=checked))


def load_step(rt: Runtime, job_id: uuid.UUID) -> None:
    """pg_restore the checked artifact into the target database and complete the job."""
    job = rj.running_job(rt, job_id)
    if job is None:
        return
    req = rj.RestoreRequest.from_payload(rj.RESTORE, job.payload)
    now = state.RestoreState.of(job)
    path = checked_artifact(rt, job_id, now)
    backup = rj.load_backup(rt, req.backup_id)
    name = rj.check_target(rt, req, backup)
    params = rt.source()
    reporter = rj.reporter(rt, job_id, rj.RESTORE)
    # Stage first, then look: of two restores racing into one target, at least one refuses.
    reporter.update("restore", 0.0, force=True)
    with rt.database.transaction() as session:
        others = db_restores.other_restores_into(session, name, job_id)
    if others:
        raise errors.RestoreError(
            f"job {others[0]} is restoring into {name} right now: wait for it to end"
        )
    created = _prepare_target(rt, job_id, params, name, clean=req.clean)
    owned = created or now.target_created
    keys = _identities(rt, backup)
    total = max(backup.size_bytes, 1)
    started = time.monotonic()
    try:
        with (
            heartbeat(rt, job_id),
            pgrestore.running(params, pgrestore.into_database(params, name, clean=req.clean)) as pg,
        ):
            unpack.decode(
                path,
                pg.stdin,
                compression=backup.compression,
                identities=keys,
                recipients=backup.encryption_recipients,
                on_bytes=lambda done: reporter.update("restore", done / total),
            )
    except Exception as exc:
        raise _after_failure(params, name, owned, exc) from exc
    except BaseException:
        if owned:
            _drop_quietly(params, name)
        raise
    seconds = round(time.monotonic() - started, 1)
    summary: dict[str, object] = {
        "backup_id": str(backup.id),
        "database": backup.database,
        "target_database": name,
        "clean": req.clean,
        "created": owned,
        "size_bytes": backup.size_bytes,
        "part_count": backup.part_count,
        "encrypted": backup.encrypted,
        "seconds": seconds,
    }
    with rt.database.transaction() as session:
        # A restore that went through is the strongest verification there is.
        db_restores.record_verification(session, backup.id, ok=True)
        db_jobs.complete_job(session, job_id, {"restore": summary}, replace=True)
    spool.remove(rt, job_id)
    log.info("job %s: restored backup %s into %s in %.1f s", job_id, backup.id, name, seconds)


def checked_artifact(rt: Runtime, job_id: uuid.UUID, now: state.RestoreState) -> Path:
    """The artifact the download step checked; JobStateError if it is not on this host."""
    path = spool.artifact(rt, job_id)
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


def _identities(rt: Runtime, backup: models.Backup) -> list[object] | None:
    return identity.load(rt.settings.backup_age_identity_file) if backup.encrypted else None


def _refuse_unusable_target(rt: Runtime, name: str, *, clean: bool) -> None:
    params = rt.source()
    if not clean and target.exists(params, name):
        _refuse_if_not_empty(params, name)


def _refuse_if_not_empty(params: source.SourceParams, name: str) -> None:
    count = target.user_objects(params, name)
    if count:
        raise errors.RestoreError(
            f"target database {name} exists and is not empty ({count} object(s) of its own): "
            "restore into a new database, or ask for clean (--clean) to drop and re-create the "
            "backup's objects in it"
        )


def _prepare_target(
    rt: Runtime, job_id: uuid.UUID, params: source.SourceParams, name: str, *, clean: bool
) -> bool:
    """Check or create the target; True when this call created it."""
    # create() is False when someone created it since exists(): then it is an existing one.
    if not target.exists(params, name) and target.create(params, name):
        with rt.database.transaction() as session:
            state.save(session, job_id, state.RestorePatch(target_created=True))
        return True
    if not clean:
        _refuse_if_not_empty(params, name)
    return False


def _after_failure(
    params: source.SourceParams, name: str, owned: bool, exc: Exception
) -> errors.BackupWorkerError:
    if isinstance(exc, errors.BackupWorkerError):
        reason = exc.message
    else:
        log.error("restore into %s failed unexpectedly", name, exc_info=exc)
        reason = f"internal error ({type(exc).__name__}); the worker log has the details"
    if owned:
        dropped = _drop_quietly(params, name)
        where = (
            f"the target database {name}, created for this restore, was dropped again"
            if dropped
            else f"the target database {name} was created for this restore and may hold a "
            "partial restore: dropping it failed, drop it by hand"
        )
    else:
        where = (
            f"the target database {name} existed before this restore and was kept: pg_restore "
            "ran in one transaction, which was rolled back, so it should be as it was; check "
            "it before use, it may be partly restored"
        )
    kind = type(exc) if isinstance(exc, errors.BackupWorkerError) else errors.RestoreError
    try:
        return kind(f"{reason}; {where}")
    except TypeError:  # an error class whose constructor wants more than a message
        return errors.RestoreError(f"{reason}; {where}")


def _drop_quietly(params: source.SourceParams, name: str) -> bool:
    try:
        target.drop(params, name)
    except errors.BackupWorkerError as exc:
        log.error("could not drop %s after a failed restore: %s", name, exc.message)
        return False
    return True
