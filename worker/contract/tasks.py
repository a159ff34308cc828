"""Every public task: its name and its keyword arguments, typed, defined here once.

Public tasks are the ones the api-gateway, operators and beat send; the chains' own steps
(STEPS) follow from them and are listed for the task modules only. A model's fields are the
task's keyword arguments, with the same names and defaults (`TASKS`, checked against
docs/contract.md and against the Celery tasks' signatures). The arguments are checked where
they arrive, by worker.contract.request's validators (restores: worker.restore.job.validate);
an argument no model has fails the job naming it (`unknown_arguments`).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from worker import errors
from worker.contract import request

CREATE = "backups.create"
CREATE_BATCH = "backups.create_batch"
REGISTER = "backups.register"
RESTORE = "backups.restore"
UNDO_RESTORE = "backups.undo_restore"
VERIFY = "backups.verify"
DISPATCH = "schedules.dispatch"
SWEEP_EXPIRED = "backups.sweep_expired"
REAP = "jobs.reap"
RESUME = "jobs.resume"  # internal: a worker sends it to its own queue on (re)connecting
CHECK_ALERTS = "alerts.check"
PUBLISH_CATALOG = "catalog.publish"
RUN_DRILLS = "drills.run"
REPAIR_COPIES = "copies.repair"  # internal: beat sends it, with no arguments

# backups.restore's modes: into a new or empty database, or in place of one (staging, switch),
# or a drill's (drills.run sends it): into a scratch database, compared, then dropped.
MODE_NEW = "new"
MODE_REPLACE = "replace"
MODE_DRILL = "drill"
MODES = (MODE_NEW, MODE_REPLACE, MODE_DRILL)

# Queues: asked-for work (gateway, CLI) on Celery's default, the dispatcher's backups on its own.
DEFAULT_QUEUE = "celery"
SCHEDULED_QUEUE = "scheduled"

# Celery's `worker_direct` queues, as its configuration reference documents them: each worker
# consumes "<nodename>.dq2", bound to the direct exchange "C.dq2" with its nodename as the key.
DIRECT_QUEUE_SUFFIX = ".dq2"
DIRECT_EXCHANGE = "C.dq2"


# The chains' steps: sent by the accepting task to its own host, never by anyone else.
DUMP = "backups.dump"
UPLOAD = "backups.upload"
RECORD = "backups.record"
DOWNLOAD = "restores.download"
LOAD = "restores.load"
CHECK = "restores.check"
STEPS = (DUMP, UPLOAD, RECORD, DOWNLOAD, LOAD, CHECK)


@dataclass(frozen=True)
class CreateBackup:
    """backups.create: back up one database; returns the job id."""

    NAME: ClassVar[str] = CREATE

    project_id: str
    database: str
    job_id: uuid.UUID | None = None
    expires_in_days: int | None = None
    caption: str | None = None
    filename: str | None = None
    server: str = "default"  # a source server's name (docs/servers.md)

    @classmethod
    def of(cls, req: request.BackupRequest, job_id: uuid.UUID | None) -> CreateBackup:
        """The message that asks for `req` under `job_id`."""
        return cls(
            project_id=req.project_id,
            database=req.database,
            job_id=job_id,
            expires_in_days=req.expires_in_days,
            caption=req.caption,
            filename=req.filename,
            server=req.server,
        )

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, object]) -> CreateBackup:
        """Check a message's arguments; InputError names the bad one (job id first)."""
        job_id = request.validate_job_id(kwargs.get("job_id"))
        return cls.of(
            request.validate(
                kwargs.get("project_id"),
                kwargs.get("database"),
                kwargs.get("expires_in_days"),
                kwargs.get("caption"),
                kwargs.get("filename"),
                kwargs.get("server"),
            ),
            job_id,
        )

    def request(self) -> request.BackupRequest:
        """What is asked for, without the job id: the job's payload is made of it."""
        return request.BackupRequest(
            self.project_id,
            self.database,
            self.expires_in_days,
            self.caption,
            self.filename,
            self.server,
        )


@dataclass(frozen=True)
class RestoreBackup:
    """backups.restore: restore one backup into `target_database`; returns the job id."""

    NAME: ClassVar[str] = RESTORE

    project_id: str  # the backup's project: another project's backup is refused
    backup_id: uuid.UUID
    target_database: str | None = None  # None: with mode replace, the backup's own database
    job_id: uuid.UUID | None = None
    clean: bool = False
    target_server: str | None = None  # None: the backup's own server
    # MODE_NEW: a new or empty database; MODE_REPLACE: swap in, with undo. MODE_DRILL only runs
    # a pending row drills.run inserted as a drill (worker.restore.job.check_drill).
    mode: str = MODE_NEW


@dataclass(frozen=True)
class UndoRestore:
    """backups.undo_restore: put back the database a replace kept as undo; the undo's job id."""

    NAME: ClassVar[str] = UNDO_RESTORE

    project_id: str  # the replace's project
    restore_job_id: uuid.UUID
    job_id: uuid.UUID | None = None


@dataclass(frozen=True)
class VerifyBackup:
    """backups.verify: download and check one backup without restoring it; the job id."""

    NAME: ClassVar[str] = VERIFY

    project_id: str  # the backup's project
    backup_id: uuid.UUID
    job_id: uuid.UUID | None = None
    server: str | None = None  # whose pg_restore reads the archive; None: the backup's server


@dataclass(frozen=True)
class CreateBatch:
    """backups.create_batch: one backups.create per request; returns what was queued."""

    NAME: ClassVar[str] = CREATE_BATCH

    # Each one a CreateBackup's arguments without job_id; checked one by one
    # (worker.backup.batch), so that a bad request refuses only itself.
    backups: list[dict[str, object]]


@dataclass(frozen=True)
class Register:
    """backups.register: record parts already in Telegram by file id; the backup id."""

    NAME: ClassVar[str] = REGISTER

    project_id: str
    filename: str
    parts: list[dict[str, object]]
    sha256: str | None = None
    compression: str = "zstd"
    expires_in_days: int | None = None


@dataclass(frozen=True)
class DispatchSchedules:
    """schedules.dispatch (beat, every minute): enqueue a backup per due schedule."""

    NAME: ClassVar[str] = DISPATCH


@dataclass(frozen=True)
class SweepExpired:
    """backups.sweep_expired (beat): expiry, retention, deleting expired parts."""

    NAME: ClassVar[str] = SWEEP_EXPIRED


@dataclass(frozen=True)
class ReapJobs:
    """jobs.reap (beat): re-run or fail jobs whose worker went silent."""

    NAME: ClassVar[str] = REAP


@dataclass(frozen=True)
class CheckAlerts:
    """alerts.check (beat): alert once per failing or overdue project."""

    NAME: ClassVar[str] = CHECK_ALERTS


@dataclass(frozen=True)
class PublishCatalog:
    """catalog.publish (beat, every CATALOG_INTERVAL): the pinned catalog in each backup chat."""

    NAME: ClassVar[str] = PUBLISH_CATALOG


@dataclass(frozen=True)
class RunDrills:
    """drills.run (beat): restore drills of the backups due, DRILL_CONCURRENCY at a time."""

    NAME: ClassVar[str] = RUN_DRILLS

    project_id: str | None = None  # set: drill this project's newest backups now, due or not


def unknown_arguments(name: str, extra: Mapping[str, object]) -> None:
    """InputError naming the arguments `name`'s model does not have (a Celery task that took
    them as `**extra` would otherwise never run: TypeError before the task body)."""
    if extra:
        known = ", ".join(field.name for field in dataclasses.fields(TASKS[name]))
        raise errors.InputError(
            f"unknown argument(s) {', '.join(sorted(extra))[:200]} for {name}: it takes {known}"
        )


Message = (
    CreateBackup
    | RestoreBackup
    | UndoRestore
    | VerifyBackup
    | CreateBatch
    | Register
    | DispatchSchedules
    | SweepExpired
    | ReapJobs
    | CheckAlerts
    | PublishCatalog
    | RunDrills
)

TASKS: Mapping[str, type[Message]] = {
    model.NAME: model
    for model in (
        CreateBackup,
        RestoreBackup,
        UndoRestore,
        VerifyBackup,
        CreateBatch,
        Register,
        DispatchSchedules,
        SweepExpired,
        ReapJobs,
        CheckAlerts,
        PublishCatalog,
        RunDrills,
    )
}
