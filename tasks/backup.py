"""The backup chain as thin Celery tasks: backups.create, then dump | upload | record.

Task names and keyword arguments are the contract with the api-gateway (docs/contract.md); only ids
travel in messages.
"""

from __future__ import annotations

import logging
import uuid

from celery import Task

from tasks import maintenance, steps
from worker import errors
from worker.app import app
from worker.backup import batch, ending, recording, send
from worker.backup import steps as backup
from worker.contract import publish, rows
from worker.contract import tasks as contract
from worker.jobs import intake, runner, runtime

log = logging.getLogger(__name__)


@app.task(name=contract.CREATE, bind=True)
def create(
    self: Task,  # type: ignore[type-arg]
    /,
    *,
    project_id: object,
    database: object,
    job_id: object = None,
    expires_in_days: object = None,
    caption: object = None,
    filename: object = None,
    server: object = "default",
    **unknown: object,
) -> str | None:
    """Accept one backup request and start its chain on this host; returns the job id."""
    rt = runtime.current()
    task_id = str(self.request.id)
    try:
        contract.unknown_arguments(contract.CREATE, unknown)
        message = contract.CreateBackup.from_kwargs(
            {
                "project_id": project_id,
                "database": database,
                "job_id": job_id,
                "expires_in_days": expires_in_days,
                "caption": caption,
                "filename": filename,
                "server": server,
            }
        )
        given = message.job_id
        jid = given or intake.job_id_for_task(task_id)
        req = message.request()
        if given is not None:
            steps.wait_for_row(self, rt, given)
        claimed = intake.accept(
            rt, req, job_id=jid, celery_task_id=task_id, hostname=str(self.request.hostname)
        )
    except errors.BackupWorkerError as exc:
        return intake.reject(rt, exc, job_id=job_id, project_id=project_id, task_id=task_id)
    if claimed:
        steps.chain_here(str(self.request.hostname), jid, (dump, upload, record))
        log.info("job %s: accepted backup of %s/%s", jid, req.project_id, req.database)
    return str(jid)


@app.task(name=contract.DUMP, bind=True)
def dump(self: Task, *, job_id: str) -> str:  # type: ignore[type-arg]
    """pg_dump into compressed parts in this host's spool."""
    hostname = str(self.request.hostname)
    return steps.run(
        self,
        job_id,
        lambda rt, jid: backup.dump_step(rt, jid, hostname=hostname),
        ending.fail,
        _retry_later(hostname),
    )


@app.task(name=contract.UPLOAD, bind=True)
def upload(self: Task, *, job_id: str, slot: object = None) -> str:  # type: ignore[type-arg]
    """Send each part to Telegram, skipping parts already sent.

    A part whose Telegram slot is more than TELEGRAM_PACER_MAX_SLEEP away does not sleep in a
    pool thread: the task runs again by then (a retry with a countdown), so a short step of
    another job never waits behind the pacer (docs/fleet.md). The slot kept for it is in the
    jobs row (worker.jobs.deferral); `slot`, the copy a message carries, is not used: a message
    sent again may carry one an earlier run used already.
    """
    del slot
    hostname = str(self.request.hostname)
    try:
        return steps.run(
            self,
            job_id,
            lambda rt, jid: backup.upload_step(rt, jid, hostname=hostname),
            ending.fail,
            _retry_later(hostname),
        )
    except errors.PacerDeferred as exc:
        max_sleep = runtime.current().settings.telegram_pacer_max_sleep
        raise steps.defer(self, job_id, exc, max_sleep=max_sleep) from None


@app.task(name=contract.RECORD, bind=True)
def record(self: Task, *, job_id: str) -> str:  # type: ignore[type-arg]
    """Record the backup and complete the job."""
    hostname = str(self.request.hostname)
    return steps.run(
        self, job_id, lambda rt, jid: recording.record_step(rt, jid, hostname=hostname), ending.fail
    )


def _retry_later(hostname: str) -> runner.Retry:
    """Hand a job whose step failed transiently back for a later attempt on any worker."""

    def retry(rt: runtime.Runtime, job_id: uuid.UUID, exc: Exception) -> str | None:
        return ending.retry_later(
            rt, job_id, exc, hostname=hostname, publisher=maintenance.publisher(app)
        )

    return retry


@app.task(name=contract.CREATE_BATCH)
def create_batch(*, backups: object) -> list[rows.BatchItem]:
    """Enqueue one backups.create per request; returns which were queued and which refused."""
    return batch.enqueue_batch(runtime.current(), backups, publish.Publisher(app.send_task))


@app.task(name=contract.REGISTER)
def register(
    *,
    project_id: object,
    filename: object,
    parts: object,
    sha256: object = None,
    compression: object = "zstd",
    expires_in_days: object = None,
    **unknown: object,
) -> str:
    """Record parts already in Telegram by file id; returns the backup id."""
    contract.unknown_arguments(contract.REGISTER, unknown)
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
