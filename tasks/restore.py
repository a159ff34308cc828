"""Restore and verify as thin Celery tasks: backups.restore / backups.verify, then their chains.

backups.restore: download | load; backups.verify: download | check. Like the backup chain, the
steps run on the worker that accepted the request (its `worker_direct` queue), because the
downloaded artifact lives in that host's spool. Only ids travel in messages.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from celery import Task

from tasks import steps
from worker import errors
from worker.app import app
from worker.contract import request
from worker.contract import tasks as contract
from worker.jobs import intake, runtime
from worker.restore import job as rj
from worker.restore import load as load_step
from worker.restore import scope, undo, verify
from worker.restore import steps as restore

log = logging.getLogger(__name__)


@app.task(name=contract.RESTORE, bind=True)
def restore_backup(
    self: Task,  # type: ignore[type-arg]
    /,
    *,
    project_id: object,
    backup_id: object,
    target_database: object = None,
    job_id: object = None,
    clean: object = False,
    target_server: object = None,
    mode: object = contract.MODE_NEW,
    **unknown: object,
) -> str | None:
    """Accept a restore of one backup into `target_database`; returns the job id."""
    given = _Given(project_id, backup_id, job_id, unknown)
    return _accept(self, rj.RESTORE, given, target_database, clean, target_server, mode)


@app.task(name=contract.UNDO_RESTORE, bind=True)
def undo_restore(
    self: Task,  # type: ignore[type-arg]
    /,
    *,
    project_id: object,
    restore_job_id: object,
    job_id: object = None,
    **unknown: object,
) -> str | None:
    """Put back the database a replace kept as its undo point; returns the undo's job id."""
    rt = runtime.current()
    task_id = str(self.request.id)
    try:
        contract.unknown_arguments(contract.UNDO_RESTORE, unknown)
        done = undo.undo(rt, project_id, restore_job_id, job_id, task_id=task_id)
    except errors.BackupWorkerError as exc:
        return rj.reject(
            rt, exc, job_id=job_id, project_id=project_id, kind=rj.RESTORE, task_id=task_id
        )
    return str(done)


@app.task(name=contract.VERIFY, bind=True)
def verify_backup(
    self: Task,  # type: ignore[type-arg]
    /,
    *,
    project_id: object,
    backup_id: object,
    job_id: object = None,
    server: object = None,
    **unknown: object,
) -> str | None:
    """Accept a verification of one backup (download, checksums, archive read); the job id."""
    return _accept(self, rj.VERIFY, _Given(project_id, backup_id, job_id, unknown), server=server)


@dataclass(frozen=True)
class _Given:
    """What every restore or verify message carries, unchecked."""

    project_id: object
    backup_id: object
    job_id: object
    unknown: dict[str, object]


def _accept(
    task: Task,  # type: ignore[type-arg]
    kind: str,
    given_args: _Given,
    target_database: object = None,
    clean: object = False,
    server: object = None,
    mode: object = None,
) -> str | None:
    rt = runtime.current()
    task_id = str(task.request.id)
    hostname = str(task.request.hostname)
    job_id = given_args.job_id
    try:
        contract.unknown_arguments(
            contract.RESTORE if kind == rj.RESTORE else contract.VERIFY, given_args.unknown
        )
        project = request.validate_project_id(given_args.project_id)
        given = request.validate_job_id(job_id)
        jid = given or intake.job_id_for_task(task_id)
        req = rj.validate(kind, given_args.backup_id, target_database, clean, server, mode)
        if given is not None:
            steps.wait_for_row(task, rt, given)
        backup = rj.load_backup(rt, req.backup_id)
        rj.check_project(backup, project)
        if req.mode == contract.MODE_DRILL:
            rj.check_drill(rt, req, given)
        new_target = False
        if kind == rj.RESTORE:
            rj.check_target(rt, req, backup)
            new_target = scope.check(rt, req, backup, jid)
        if req.server is not None:
            rj.server_of(rt, req, backup)  # InputError naming the known servers
        claimed = rj.accept(
            rt,
            req,
            backup,
            job_id=jid,
            celery_task_id=task_id,
            hostname=hostname,
            new_target=new_target,
        )
    except errors.BackupWorkerError as exc:
        return rj.reject(
            rt, exc, job_id=job_id, project_id=given_args.project_id, kind=kind, task_id=task_id
        )
    if claimed:
        last = load if kind == rj.RESTORE else check
        steps.chain_here(hostname, jid, (download, last))
        log.info("job %s: accepted %s of backup %s", jid, kind, req.backup_id)
    return str(jid)


@app.task(name=contract.DOWNLOAD, bind=True)
def download(self: Task, *, job_id: str) -> str:  # type: ignore[type-arg]
    """Download the backup's parts into this host's spool and check every checksum."""
    hostname = str(self.request.hostname)
    return steps.run(
        self,
        job_id,
        lambda rt, jid: restore.download_step(rt, jid, hostname=hostname),
        restore.fail,
    )


@app.task(name=contract.LOAD, bind=True)
def load(self: Task, *, job_id: str) -> str:  # type: ignore[type-arg]
    """pg_restore the checked artifact into the target database."""
    return steps.run(self, job_id, load_step.load_step, restore.fail)


@app.task(name=contract.CHECK, bind=True)
def check(self: Task, *, job_id: str) -> str:  # type: ignore[type-arg]
    """Read the checked artifact back through pg_restore and record the verification."""
    return steps.run(self, job_id, verify.check_step, restore.fail)
