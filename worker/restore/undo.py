"""Undoing a replace: the project's old database (its undo point) back under the project's name.

An undo is a short job of type `restore` (payload `undo_of`): it needs no download, so it runs
in the accepting task. The restored database moves to `<db>__pre_undo_<job8>` and is dropped by
the expiry sweep when the undo point would have been. Running it twice is harmless
(worker.postgres.switch.undo is idempotent), so a redelivered message finishes a half-done undo.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping

from db import models
from db.queries import jobs as db_jobs
from worker import errors
from worker.contract import request
from worker.jobs import intake
from worker.jobs.runtime import Runtime
from worker.postgres import switch

log = logging.getLogger(__name__)


def undo_target(
    rt: Runtime, restore_job_id: object, project_id: str | None = None
) -> tuple[models.Job, switch.Names]:
    """The completed replace and its names; InputError/NotFoundError when it cannot be undone
    (or, with `project_id`, when the replace is another project's)."""
    rid = request.validate_job_id(restore_job_id)
    if rid is None:
        raise errors.InputError("restore_job_id is required: the job id of a replace")
    with rt.database.transaction() as session:
        job = db_jobs.get_job(session, rid)
        if job is not None:
            session.expunge(job)
    if job is None:
        raise errors.NotFoundError(f"job {rid} does not exist")
    if project_id is not None and job.project_id != project_id:
        raise errors.InputError(
            f"job {rid} does not belong to project {project_id}: a project undoes only its own "
            "replaces"
        )
    result = job.result if isinstance(job.result, Mapping) else {}
    restore = result.get("restore")
    databases = restore.get("databases") if isinstance(restore, Mapping) else None
    undo = databases.get("undo") if isinstance(databases, Mapping) else None
    if job.type != models.JobType.RESTORE.value or job.status != models.JobStatus.COMPLETED:
        raise errors.InputError(f"job {rid} is not a completed restore: nothing to undo")
    if not isinstance(databases, Mapping) or not isinstance(undo, str):
        raise errors.InputError(
            f"job {rid} kept no undo point (it restored into a new or empty database)"
        )
    return job, switch.Names.of(str(databases.get("project")), rid)


def undo(
    rt: Runtime, project_id: object, restore_job_id: object, job_id: object, *, task_id: str
) -> uuid.UUID:
    """Swap the undo point back in; the undo job's id (completed, or failed with the reason).

    The undo's row is the caller's pending row (of type restore, of this project, for this
    replace or with no payload yet) or the worker's own; InputError for any other.
    """
    project = request.validate_project_id(project_id)
    given = request.validate_job_id(job_id)
    job, names = undo_target(rt, restore_job_id, project)
    jid = given or intake.job_id_for_task(task_id)
    payload = {"undo_of": str(job.id), "target_database": names.project}
    with rt.database.transaction() as session:
        row = db_jobs.create_job(
            session,
            job_id=jid,
            type=models.JobType.RESTORE.value,
            project_id=project,
            payload=payload,
            celery_task_id=None if given else task_id,
        )
        intake.check_claim(
            row, job_type=models.JobType.RESTORE.value, project_id=project, payload={}
        )
        if (
            row.payload.get("undo_of", str(job.id)) != str(job.id)
            or row.status not in models.UNFINISHED
        ):
            raise errors.InputError(
                f"job {jid} is not a pending undo of job {job.id}: an undo runs only its own row"
            )
    try:
        switch.undo(rt.source(), names)
    except errors.BackupWorkerError as exc:
        with rt.database.transaction() as session:
            db_jobs.fail_job(session, jid, exc.message)
        log.error("job %s: undo of %s failed: %s", jid, job.id, exc.message)
        return jid
    restored = job.result.get("restore", {}) if isinstance(job.result, Mapping) else {}
    expires = restored.get("databases", {}).get("undo_expires_at")
    summary = {
        "undo_of": str(job.id),
        "databases": {"project": names.project, "undone": names.undone, "expires_at": expires},
    }
    with rt.database.transaction() as session:
        db_jobs.complete_job(session, jid, {"undo": summary}, stage="undo")
    log.info("job %s: %s is back to its state before job %s", jid, names.project, job.id)
    return jid
