"""What the reaper does for a restore whose worker died: settle its databases first.

A restore through staging records its switch's phase in its job's result before each step
(worker.restore.load). For a stale restore job, `settle` finishes a switch that got past its
first rename (the job completes: the project's database is the restored one) and otherwise rolls
it back (staging dropped, the project's database open again: the job fails saying so). A target
that the dead job created for itself is dropped: it may hold a partial restore.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from db import models
from worker import errors
from worker.jobs import state
from worker.jobs.runtime import Runtime
from worker.postgres import source, switch, target

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settled:
    """A stale restore's outcome: its result when it completed after all, else a note."""

    result: dict[str, object] | None = None
    note: str = ""


def settle(rt: Runtime, job: models.Job) -> Settled:
    """Finish or roll back the job's half-done switch, or drop its own partial target."""
    now = state.RestoreState.of(job)
    payload = job.payload if isinstance(job.payload, Mapping) else {}
    try:
        # The job's target server (a restore's payload names it; older rows: default).
        params = rt.registry().get(payload.get("server") or "default").params()
        if now.switch is not None:
            return _switch(params, job, now.switch)
        name = payload.get("target_database")
        if now.target_created and isinstance(name, str):
            target.drop(params, source.validate_database_name(name))
            return Settled(note=f"; {name}, created for this restore, was dropped again")
    except errors.BackupWorkerError as exc:
        log.error("job %s: could not settle its databases: %s", job.id, exc.message)
        return Settled(note=f"; its databases could not be settled ({exc.message})")
    return Settled()


def _switch(params: source.SourceParams, job: models.Job, record: Mapping[str, object]) -> Settled:
    databases = record.get("databases")
    if not isinstance(databases, Mapping) or not isinstance(databases.get("project"), str):
        raise errors.JobStateError(f"job {job.id} records a switch without its databases")
    names = switch.Names.of(str(databases["project"]), job.id)
    outcome = switch.recover(params, names)
    summary = record.get("summary")
    if outcome == switch.NEW and isinstance(summary, Mapping) and summary:
        if record.get("keep_undo") is False:
            target.drop(params, names.undo)
        log.warning(
            "job %s: finished its switch: %s is the restored database", job.id, names.project
        )
        return Settled(result={"restore": {**summary, "settled_by": "reaper"}})
    log.warning("job %s: rolled back: %s is the database from before", job.id, names.project)
    return Settled(
        note=f"; {names.project} is as it was before the restore (staging {names.staging} dropped)"
    )
