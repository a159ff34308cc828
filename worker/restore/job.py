"""Restore and verify jobs: the request, its jobs row, its stages, and where its files wait."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict

from sqlalchemy.engine import make_url

from db import models
from db.queries import backups as db_backups
from db.queries import jobs as db_jobs
from worker import errors
from worker.contract import tasks
from worker.jobs import intake, owner, progress
from worker.jobs.runtime import Runtime
from worker.postgres import servers, source, switch, target

log = logging.getLogger(__name__)

RESTORE = models.JobType.RESTORE.value
VERIFY = models.JobType.VERIFY.value
# Share of the whole job each stage covers, as (start, end) in percent.
STAGES: dict[str, dict[str, tuple[int, int]]] = {
    RESTORE: {"download": (1, 60), "verify": (60, 65), "restore": (65, 100)},
    VERIFY: {"download": (1, 75), "verify": (75, 100)},
}


class Payload(TypedDict):
    """The jobs row's payload of a restore or verify job: ids and names only."""

    backup_id: str
    database: str | None  # the backup's own (source) database, shown to users
    target_database: str | None
    clean: bool
    server: str  # restore: the target server; verify: whose pg_restore reads the archive
    mode: str  # NEW or REPLACE


@dataclass(frozen=True)
class RestoreRequest:
    """A validated request to restore (into `target_database`) or verify one backup."""

    kind: str
    backup_id: uuid.UUID
    target_database: str | None = None
    clean: bool = False
    server: str | None = None  # None: restore onto the backup's server; verify with PATH's
    mode: str = tasks.MODE_NEW

    def payload(self, backup: models.Backup) -> Payload:
        """The JSON kept in the jobs row."""
        return Payload(
            backup_id=str(self.backup_id),
            database=backup.database,
            target_database=self.target_database,
            clean=self.clean,
            server=self.server or (backup.server if self.kind == RESTORE else ""),
            mode=self.mode,
        )

    @classmethod
    def from_payload(cls, kind: str, payload: Mapping[str, object]) -> RestoreRequest:
        """Rebuild (and check again) the request from a jobs row."""
        return validate(
            kind,
            payload.get("backup_id"),
            payload.get("target_database"),
            payload.get("clean"),
            payload.get("server") or None,
            payload.get("mode"),
        )


def validate(
    kind: str,
    backup_id: object,
    target_database: object = None,
    clean: object = False,
    server: object = None,
    mode: object = None,
) -> RestoreRequest:
    """Check task or CLI arguments; InputError naming the bad one."""
    name_of_server = None if server is None else servers.validate_name(server)
    if kind not in (RESTORE, VERIFY):
        raise errors.InputError(f"unknown job kind {kind!r}")
    try:
        bid = uuid.UUID(str(backup_id)) if isinstance(backup_id, str) else None
    except ValueError:
        bid = None
    if bid is None:
        raise errors.InputError(f"invalid backup id {str(backup_id)[:60]!r}: expected a UUID")
    if kind == VERIFY:
        return RestoreRequest(kind, bid, server=name_of_server)
    if clean is None:
        clean = False
    if not isinstance(clean, bool):
        raise errors.InputError(f"clean must be true or false, not {type(clean).__name__}")
    mode = tasks.MODE_NEW if mode is None else mode
    if mode not in tasks.MODES:
        raise errors.InputError(f"mode must be one of {', '.join(tasks.MODES)}, not {mode!r:.40}")
    if mode == tasks.MODE_REPLACE and clean:
        raise errors.InputError(
            "clean does not go with mode replace, which swaps the whole database"
        )
    if mode == tasks.MODE_DRILL:
        name = source.validate_database_name(target_database)
        if clean or not re.search(switch.DRILL_PATTERN, name):
            raise errors.InputError(
                f"a drill restores into a scratch database <db>{switch.DRILL}<job8>, not {name}"
            )
        return RestoreRequest(kind, bid, name, False, name_of_server, mode)
    if mode == tasks.MODE_REPLACE and target_database is None:
        return RestoreRequest(kind, bid, None, False, name_of_server, mode)  # its own database
    name = source.validate_database_name(target_database)
    return RestoreRequest(kind, bid, name, clean, name_of_server, str(mode))


def load_backup(rt: Runtime, backup_id: uuid.UUID) -> models.Backup:
    """The backup with its parts, detached; NotFoundError or InputError if it cannot be read."""
    with rt.database.transaction() as session:
        backup = db_backups.get_backup(session, backup_id)
        if backup is None:
            raise errors.NotFoundError(f"backup {backup_id} does not exist")
        session.expunge(backup)
    if backup.type != models.BackupType.DATABASE.value or not backup.database:
        raise errors.InputError(f"backup {backup_id} is not a database backup")
    if backup.status == models.BackupStatus.DELETED.value:
        raise errors.InputError(f"backup {backup_id} was deleted: its parts are gone")
    return backup


def check_target(rt: Runtime, req: RestoreRequest, backup: models.Backup) -> str:
    """The target name, unless it is the backup's own database or one the worker relies on.

    A replace may go into the backup's own database (its default): it restores into staging
    and switches by rename, so the database is never half-restored. On another server the
    backup's own name is allowed too (moving a project).
    """
    wanted = req.target_database or backup.database
    assert wanted is not None  # load_backup() refuses a backup without a database
    server = server_of(rt, req, backup)
    own_database = wanted == backup.database and server.name == backup.server
    if req.mode != tasks.MODE_REPLACE and own_database:
        raise errors.InputError(
            f"refusing to restore into {backup.database}, the database this backup was taken "
            "from: restore into a new database and switch over once it is checked"
        )
    control = make_url(rt.settings.database_url).database
    own = server.params().database
    return target.refuse_forbidden(
        wanted,
        protected=(control, own),
        reason="the worker's control-plane database and the server URL's own database "
        "are never restore targets",
    )


def server_of(rt: Runtime, req: RestoreRequest, backup: models.Backup) -> servers.Server:
    """The server the job works against: the one asked for, else the backup's; InputError
    naming the known servers when it is not one of them."""
    return rt.registry().get(req.server or backup.server)


def check_project(backup: models.Backup, project_id: str) -> None:
    """InputError unless `backup` is a backup of `project_id` (whose it is, is not said)."""
    if backup.project_id != project_id:
        raise errors.InputError(
            f"backup {backup.id} does not belong to project {project_id}: a project restores "
            "and verifies only its own backups"
        )


def check_drill(rt: Runtime, req: RestoreRequest, given: uuid.UUID | None) -> None:
    """InputError unless the message runs a drill's pending row that drills.run inserted for
    this very backup and scratch database: mode drill is internal, never a caller's choice."""
    with rt.database.transaction() as session:
        job = None if given is None else db_jobs.get_job(session, given)
        stored = job.payload if job is not None and isinstance(job.payload, Mapping) else {}
    if (
        job is None
        or job.status != models.JobStatus.PENDING
        or stored.get("mode") != tasks.MODE_DRILL
        or stored.get("backup_id") != str(req.backup_id)
        or stored.get("target_database") != req.target_database
    ):
        raise errors.InputError(
            "mode drill is internal: drills are started by drills.run (backup-worker drills "
            "run), not by a message; ask for mode new or replace"
        )


def accept(
    rt: Runtime,
    req: RestoreRequest,
    backup: models.Backup,
    *,
    job_id: uuid.UUID,
    celery_task_id: str | None,
    hostname: str,
    new_target: bool = False,
) -> bool:
    """Create (or find) the job and claim it for this host; False when it is not ours to run.

    `new_target`: the target database did not exist when the job was accepted, so this job
    creates it (worker.restore.scope lets the project restore into it again later).
    """
    payload: dict[str, object] = dict(req.payload(backup))
    if new_target:
        payload["new_target"] = True
    return intake.claim(
        rt,
        job_id=job_id,
        job_type=req.kind,
        project_id=backup.project_id,
        payload=payload,
        celery_task_id=celery_task_id,
        hostname=hostname,
    )


def reject(
    rt: Runtime,
    exc: errors.BackupWorkerError,
    *,
    job_id: object,
    project_id: object,
    kind: str,
    task_id: str,
) -> str | None:
    """Record a refused request as a failed job when there is one of its own to show it on."""
    return intake.refuse(
        rt, exc, job_type=kind, job_id=job_id, project_id=project_id, task_id=task_id
    )


def running_job(rt: Runtime, job_id: uuid.UUID) -> models.Job | None:
    """The job if it is running (detached); None, logged, when it is finished."""
    with rt.database.transaction() as session:
        job = owner.running_in(session, job_id)
        if job is not None:
            session.expunge(job)
        return job


def reporter(rt: Runtime, job_id: uuid.UUID, kind: str) -> progress.Reporter:
    """A progress reporter over this kind of job's stages, writing into its row."""
    return owner.reporter(rt, job_id, STAGES[kind])
