"""The rota of restore drills (drills.run): which backups are drilled now, and the leftovers.

Each run first drops the `*__drill_<job8>` databases its own finished drill jobs recorded (a
worker that died mid-drill), then starts a drill of the newest backup of each (project, server,
database) not drilled within DRILL_PERIOD_DAYS, the longest undrilled first, while fewer than
DRILL_CONCURRENCY drills are unfinished. A drill is a restore job of mode `drill`: its row is
inserted pending first, so the next run counts it, then backups.restore is sent.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field

from db import models
from db.queries import drills as db_drills
from db.queries import jobs as db_jobs
from worker import errors
from worker.contract import publish, tasks
from worker.jobs.runtime import Runtime
from worker.postgres import switch, target
from worker.restore import job as rj

log = logging.getLogger(__name__)


@dataclass
class RotaResult:
    """What one run did."""

    started: list[str] = field(default_factory=list)  # job ids
    dropped: list[str] = field(default_factory=list)  # leftover scratch databases
    running: int = 0

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {"started": self.started, "dropped": self.dropped, "running": self.running}


def run(rt: Runtime, publisher: publish.Publisher, *, project_id: str | None = None) -> RotaResult:
    """Clean up, then start the drills that are due (with `project_id`: that project's, now,
    whether due or not and whatever DRILL_CONCURRENCY says: an operator asked)."""
    config = rt.settings
    result = RotaResult()
    with rt.database.transaction() as session:
        unfinished = db_drills.running(session)
    result.running = len(unfinished)
    result.dropped = drop_leftovers(rt)
    free = config.drill_concurrency - len(unfinished)
    if project_id is None and free <= 0:
        return result
    with rt.database.transaction() as session:
        backups = db_drills.due(
            session,
            period=dt.timedelta(days=config.drill_period_days),
            limit=max(free, 1) if project_id is None else 1000,
            project_id=project_id,
        )
        for row in backups:
            session.expunge(row)
    for backup in backups:
        try:
            result.started.append(str(start(rt, publisher, backup)))
        except errors.BackupWorkerError as exc:
            log.error("drills: cannot drill backup %s: %s", backup.id, exc.message)
    return result


def start(rt: Runtime, publisher: publish.Publisher, backup: models.Backup) -> uuid.UUID:
    """Insert the drill's pending restore job and send its backups.restore; the job id."""
    assert backup.database is not None  # db_drills.due() picks database backups only
    job_id = uuid.uuid4()
    req = rj.RestoreRequest(
        rj.RESTORE,
        backup.id,
        switch.Names.drill(backup.database, job_id),
        server=rt.settings.drill_server,
        mode=tasks.MODE_DRILL,
    )
    rj.check_target(rt, req, backup)  # InputError naming the servers for a bad DRILL_SERVER
    with rt.database.transaction() as session:
        db_jobs.create_job(
            session,
            job_id=job_id,
            type=rj.RESTORE,
            project_id=backup.project_id,
            payload=dict(req.payload(backup)),
            celery_task_id=None,
        )
    message = tasks.RestoreBackup(
        backup.project_id,
        backup.id,
        req.target_database,
        job_id,
        target_server=req.server,
        mode=tasks.MODE_DRILL,
    )
    publisher.send(message)
    log.info("drills: job %s drills backup %s of %s", job_id, backup.id, backup.project_id)
    return job_id


def drop_leftovers(rt: Runtime) -> list[str]:
    """Drop the scratch databases this deployment's finished drills left, where they left them.

    Only a database a drill job of this control plane recorded (its payload's target_database
    and server), once that job has finished (a dead drill's is failed by the reaper): another
    deployment's drills, or a database someone named like one, are not this worker's to drop.
    """
    with rt.database.transaction() as session:
        recorded = db_drills.finished_targets(session)
    # A server gone from the registry keeps what is left there: it is not ours to reach now.
    servers = sorted({server for server, _ in recorded} & set(rt.registry().names()))
    dropped: list[str] = []
    for name in servers:
        try:
            params = rt.registry().get(name).params()
            found = set(target.matching(params, switch.DRILL_PATTERN))
            for database in sorted(found & {db for server, db in recorded if server == name}):
                target.drop(params, database)
                dropped.append(f"{name}/{database}")
                log.warning("drills: dropped %s on %s, left by a drill", database, name)
        except errors.BackupWorkerError as exc:
            log.error("drills: cannot clean up server %s: %s", name, exc.message)
    return dropped
