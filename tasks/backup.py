"""The backup chain as thin Celery tasks: backups.create, then dump | upload | record.

Task names and keyword arguments are the contract with the api-gateway (DESIGN.md); only ids
travel in messages.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from celery import Task, chain
from celery.utils.nodenames import worker_direct

from worker import backup, batch, errors, intake, request, runtime, send
from worker.app import app

log = logging.getLogger(__name__)

MISSING_JOB_RETRIES = 5  # the gateway's insert may not be committed when its message arrives
MISSING_JOB_DELAY = 2  # seconds


@app.task(name="backups.create", bind=True)
def create(
    self: Task,  # type: ignore[type-arg]
    *,
    project_id: object,
    database: object,
    job_id: object = None,
    expires_in_days: object = None,
    caption: object = None,
    filename: object = None,
) -> str | None:
    """Accept one backup request and start its chain on this host; returns the job id."""
    rt = runtime.current()
    task_id = str(self.request.id)
    try:
        given = request.validate_job_id(job_id)
        jid = given or intake.job_id_for_task(task_id)
        req = request.validate(project_id, database, expires_in_days, caption, filename)
        if given is not None and not intake.job_exists(rt, given):
            if self.request.retries < MISSING_JOB_RETRIES:
                raise self.retry(countdown=MISSING_JOB_DELAY, max_retries=MISSING_JOB_RETRIES)
            raise errors.NotFoundError(
                f"job {given} does not exist: the caller must insert it before enqueueing"
            )
        claimed = intake.accept(
            rt, req, job_id=jid, celery_task_id=task_id, hostname=str(self.request.hostname)
        )
    except errors.BackupWorkerError as exc:
        return intake.reject(rt, exc, job_id=job_id, project_id=project_id, task_id=task_id)
    if claimed:
        # Names, not a kombu Queue: the routing options travel inside the chain's JSON message.
        direct = worker_direct(str(self.request.hostname))
        signatures = [
            step.si(job_id=str(jid)).set(
                queue=direct.name, exchange=direct.exchange.name, routing_key=direct.routing_key
            )
            for step in (dump, upload, record)
        ]
        chain(*signatures).apply_async()
        log.info("job %s: accepted backup of %s/%s", jid, req.project_id, req.database)
    return str(jid)


def _run(job_id: str, step: Callable[[runtime.Runtime, uuid.UUID], None]) -> str:
    rt = runtime.current()
    jid = uuid.UUID(job_id)
    try:
        step(rt, jid)
    except errors.AttemptSuperseded as exc:
        # Not a failure: the job lives on in its newer attempt, which owns spool and row.
        log.warning("job %s: %s; this step stops here", jid, exc.message)
    except Exception as exc:
        message = backup.fail(rt, jid, exc)
        if isinstance(exc, errors.BackupWorkerError):
            log.error("job %s failed: %s", jid, message)
        else:
            log.exception("job %s failed with an unexpected error", jid)
        raise errors.JobFailed(message) from None
    return job_id


@app.task(name="backups.dump", bind=True)
def dump(self: Task, *, job_id: str) -> str:  # type: ignore[type-arg]
    """pg_dump into compressed parts in this host's spool."""
    hostname = str(self.request.hostname)
    return _run(job_id, lambda rt, jid: backup.dump_step(rt, jid, hostname=hostname))


@app.task(name="backups.upload", bind=True)
def upload(self: Task, *, job_id: str) -> str:  # type: ignore[type-arg]
    """Send each part to Telegram, skipping parts already sent."""
    hostname = str(self.request.hostname)
    return _run(job_id, lambda rt, jid: backup.upload_step(rt, jid, hostname=hostname))


@app.task(name="backups.record", bind=True)
def record(self: Task, *, job_id: str) -> str:  # type: ignore[type-arg]
    """Record the backup and complete the job."""
    hostname = str(self.request.hostname)
    return _run(job_id, lambda rt, jid: backup.record_step(rt, jid, hostname=hostname))


@app.task(name="backups.create_batch")
def create_batch(*, backups: object) -> list[batch.BatchItem]:
    """Enqueue one backups.create per request; returns which were queued and which refused."""
    return batch.enqueue_batch(runtime.current(), backups, app.send_task)


@app.task(name="backups.register")
def register(
    *,
    project_id: object,
    filename: object,
    parts: object,
    sha256: object = None,
    compression: object = "zstd",
    expires_in_days: object = None,
) -> str:
    """Record parts already in Telegram by file id; returns the backup id."""
    row = send.register(
        runtime.current(),
        project_id=project_id,
        filename=filename,
        parts=parts,
        sha256=sha256,
        compression=compression,
        expires_in_days=expires_in_days,
    )
    return str(row.id)
