"""The reaper's part for a dead restore: its half-done switch finished or rolled back."""

from __future__ import annotations

import uuid

from db import models, session
from tests.integration.restore.test_switch import PARAMS, mark, names, which
from worker import settings
from worker.jobs import runtime
from worker.postgres import switch, target
from worker.scheduling import switches

__all__ = ["names"]


def stale_restore(found: switch.Names, phase: str, job_id: uuid.UUID) -> models.Job:
    record = {
        "databases": found.to_json(),
        "phase": phase,
        "keep_undo": True,
        "summary": {"target_database": found.project},
    }
    return models.Job(
        id=job_id,
        type="restore",
        project_id="p",
        status="running",
        payload={"target_database": found.project},
        result={"switch": record},
    )


def test_a_worker_dead_between_the_renames_is_finished(database: session.Database) -> None:
    job_id = uuid.uuid4()
    found = switch.Names.of(f"bw_settle_{job_id.hex[:6]}", job_id)
    rt = runtime.Runtime(settings=settings.Settings(database_url=database.url), database=database)
    try:
        mark(found.project, "old")
        mark(found.staging, "new")
        target.rename(PARAMS, found.project, found.undo)  # the first rename, then the kill
        done = switches.settle(rt, stale_restore(found, switch.RENAMED, job_id))
        assert done.result == {
            "restore": {"target_database": found.project, "settled_by": "reaper"}
        }
        assert which(found.project) == "new"
        assert target.exists(PARAMS, found.undo)
    finally:
        for name in (found.project, found.staging, found.undo):
            target.drop(PARAMS, name)


def test_a_worker_dead_before_the_first_rename_is_rolled_back(database: session.Database) -> None:
    job_id = uuid.uuid4()
    found = switch.Names.of(f"bw_settle_{job_id.hex[:6]}", job_id)
    rt = runtime.Runtime(settings=settings.Settings(database_url=database.url), database=database)
    try:
        mark(found.project, "old")
        mark(found.staging, "new")
        target.allow_connections(PARAMS, found.project, False)  # closed, then the kill
        done = switches.settle(rt, stale_restore(found, switch.SWITCHING, job_id))
        assert done.result is None
        assert f"{found.project} is as it was before the restore" in done.note
        assert which(found.project) == "old"
        assert not target.exists(PARAMS, found.staging)
    finally:
        for name in (found.project, found.staging, found.undo):
            target.drop(PARAMS, name)
