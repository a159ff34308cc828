"""Taking in a backup request: the job row is created or claimed, or the request is refused."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping

from db import models
from db.queries import jobs as db_jobs
from worker import errors, redact
from worker.contract import publish, request, tasks
from worker.jobs.runtime import Runtime

log = logging.getLogger(__name__)

JOB_TYPE = "backup"
# Namespace for job ids derived from a Celery task id, so that a redelivered message maps to
# the job its first delivery created.
TASK_JOB_NAMESPACE = uuid.UUID("6f1d9a52-3c1b-4f55-9a8e-6a0f4e2b7c10")


def job_id_for_task(task_id: str) -> uuid.UUID:
    """The job id of a backups.create message that came without one."""
    return uuid.uuid5(TASK_JOB_NAMESPACE, task_id)


def enqueue(rt: Runtime, req: request.BackupRequest, publisher: publish.Publisher) -> uuid.UUID:
    """Insert a pending job, then send backups.create for it: the gateway's way, shared by
    the CLI, batches and the scheduler. Returns the job id."""
    payload = dict(req.payload(rt.chat_id(), rt.settings.telegram_thread_id))
    job_id = insert_pending(rt, job_type=JOB_TYPE, project_id=req.project_id, payload=payload)
    send_pending(rt, job_id, publisher, tasks.CreateBackup.of(req, job_id))
    return job_id


def send_pending(
    rt: Runtime, job_id: uuid.UUID, publisher: publish.Publisher, message: tasks.Message
) -> None:
    """Send the message of the pending job `job_id`; when sending fails, fail the row first
    (with why), then raise.

    A row left pending would be sent by the reaper later (JOB_PENDING_TIMEOUT), so the
    operator who retries by hand would get two backups. Failed, not deleted: should the
    message have reached the broker after all, its claim finds the row finished and runs
    nothing.
    """
    try:
        publisher.send(message)
    except Exception as exc:
        said = redact.redact(str(exc))[:200]
        reason = f"not queued: sending {message.NAME} failed ({type(exc).__name__}: {said})"
        try:
            with rt.database.transaction() as session:
                db_jobs.fail_job(session, job_id, reason)
        except Exception:
            log.exception("job %s: its message was not sent, and the row not failed", job_id)
        raise


def insert_pending(
    rt: Runtime, *, job_type: str, project_id: str, payload: Mapping[str, object]
) -> uuid.UUID:
    """Insert a new pending job (what the gateway does before it enqueues); returns its id."""
    job_id = uuid.uuid4()
    with rt.database.transaction() as session:
        db_jobs.create_job(
            session,
            job_id=job_id,
            type=job_type,
            project_id=project_id,
            payload=payload,
            celery_task_id=None,
        )
    return job_id


def job_exists(rt: Runtime, job_id: uuid.UUID) -> bool:
    """Whether the jobs row is there (the gateway inserts it before enqueueing)."""
    with rt.database.transaction() as session:
        return db_jobs.get_job(session, job_id) is not None


def accept(
    rt: Runtime,
    req: request.BackupRequest,
    *,
    job_id: uuid.UUID,
    celery_task_id: str | None,
    hostname: str,
) -> bool:
    """Create (or find) the job and claim it for this host; False when it is not ours to run.

    InputError naming the known servers when `req.server` is not one of them.
    """
    rt.registry().get(req.server)
    return claim(
        rt,
        job_id=job_id,
        job_type=JOB_TYPE,
        project_id=req.project_id,
        payload=dict(req.payload(rt.chat_id(), rt.settings.telegram_thread_id)),
        celery_task_id=celery_task_id,
        hostname=hostname,
    )


def claim(
    rt: Runtime,
    *,
    job_id: uuid.UUID,
    job_type: str,
    project_id: str,
    payload: Mapping[str, object],
    celery_task_id: str | None,
    hostname: str,
) -> bool:
    """Create the job if missing, then claim it for this host's chain; False when another
    delivery claimed it already or it is finished (the guard against duplicate messages).

    InputError, the row untouched, when the row is another type's or another project's: a
    message runs only a row of its own kind (check_claim).
    """
    with rt.database.transaction() as session:
        job = db_jobs.create_job(
            session,
            job_id=job_id,
            type=job_type,
            project_id=project_id,
            payload=payload,
            celery_task_id=celery_task_id,
        )
        check_claim(job, job_type=job_type, project_id=project_id, payload=payload)
        claimed = db_jobs.claim_job(session, job.id, hostname=hostname, payload=payload)
    if not claimed:
        log.info("job %s: already claimed or finished, nothing to do", job_id)
    return claimed


def check_claim(
    job: models.Job, *, job_type: str, project_id: str, payload: Mapping[str, object]
) -> None:
    """InputError unless `job` is of this type and project, and a drill exactly when the
    control plane made it one (its stored payload says so: a message cannot)."""
    if job.type != job_type or job.project_id != project_id:
        raise errors.InputError(
            f"job {job.id} is not a {job_type} job of project {project_id}: "
            "a message runs only the job row of its own type and project"
        )
    stored = job.payload.get("mode") if isinstance(job.payload, Mapping) else None
    if (stored == tasks.MODE_DRILL) != (payload.get("mode") == tasks.MODE_DRILL):
        raise errors.InputError(
            f"job {job.id}: mode drill is internal (drills.run starts drills), "
            "and a drill's row runs only as a drill"
        )


def reject(
    rt: Runtime,
    exc: errors.BackupWorkerError,
    *,
    job_id: object,
    project_id: object,
    task_id: str,
) -> str | None:
    """Record a refused backups.create as a failed job when there is one to show it on."""
    return refuse(rt, exc, job_type=JOB_TYPE, job_id=job_id, project_id=project_id, task_id=task_id)


def refuse(
    rt: Runtime,
    exc: errors.BackupWorkerError,
    *,
    job_type: str,
    job_id: object,
    project_id: object,
    task_id: str,
) -> str | None:
    """Fail the request's row with the reason: the row it names (or the worker's own, created
    here) only when it is a pending, unclaimed row of `job_type` and the message's project.

    Any other row (running, finished, another type's or project's) is left as it is: a bad
    message must not end a job it does not own. Without a valid project, or for a job or
    backup that does not exist, there is no row to show: an ERROR log line only.
    """
    name = _TASK_OF.get(job_type, job_type)
    try:
        given = request.validate_job_id(job_id)
        project = request.validate_project_id(project_id)
    except errors.InputError:
        given, project = None, None
    if project is None:
        log.error("%s %s refused: %s", name, task_id, exc.message)
        return None
    jid = given or job_id_for_task(task_id)
    with rt.database.transaction() as session:
        job = db_jobs.get_job(session, jid, for_update=True)
        if job is None and isinstance(exc, errors.NotFoundError):
            log.error("%s %s refused: %s", name, task_id, exc.message)
            return None
        if job is None:
            job = db_jobs.create_job(
                session,
                job_id=jid,
                type=job_type,
                project_id=project,
                payload={"refused": True},
                celery_task_id=task_id if given is None else None,
            )
        ours = (
            job.type == job_type
            and job.project_id == project
            and job.status == models.JobStatus.PENDING
            and job.worker_hostname is None
        )
        if ours:
            db_jobs.fail_job(session, job.id, exc.message)
    if not ours:
        log.error(
            "%s %s refused; job %s left as it is (not a pending %s job of project %s): %s",
            name,
            task_id,
            jid,
            job_type,
            project,
            exc.message,
        )
        return None
    log.error("job %s refused: %s", job.id, exc.message)
    return str(job.id)


_TASK_OF = {JOB_TYPE: tasks.CREATE, "restore": tasks.RESTORE, "verify": tasks.VERIFY}
