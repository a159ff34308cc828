"""Drill rotation drops only the scratch databases its own drill jobs recorded (issue #20)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import update

from db import models, session
from db.queries import jobs as db_jobs
from tests.support.sources import admin_execute, database_exists, drop_database
from worker import settings
from worker.jobs import runtime
from worker.restore import rotation

SOURCE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def rt(database: session.Database) -> runtime.Runtime:
    config = settings.Settings(
        _env_file=None, database_url=database.url, source_database_url=SOURCE_URL
    )
    return runtime.Runtime(settings=config, database=database)


@pytest.fixture
def scratch() -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        drop_database(name)


def _database(scratch: list[str], job8: str) -> str:
    name = f"bw_rot_{uuid.uuid4().hex[:6]}__drill_{job8}"
    admin_execute(f'CREATE DATABASE "{name}"')
    scratch.append(name)
    return name


def _drill_job(rt: runtime.Runtime, target: str, status: str, server: str = "default") -> None:
    job_id = uuid.UUID(target[-8:] + uuid.uuid4().hex[8:])
    with rt.database.transaction() as db:
        db_jobs.create_job(
            db,
            job_id=job_id,
            type="restore",
            project_id="proj-rot",
            payload={
                "backup_id": str(uuid.uuid4()),
                "database": "app",
                "target_database": target,
                "clean": False,
                "server": server,
                "mode": "drill",
            },
            celery_task_id=None,
        )
        db.execute(update(models.Job).where(models.Job.id == job_id).values(status=status))


def test_only_databases_of_finished_own_drills_are_dropped(
    rt: runtime.Runtime, scratch: list[str]
) -> None:
    left = _database(scratch, uuid.uuid4().hex[:8])  # a dead drill of ours
    _drill_job(rt, left, "failed")
    stranger = _database(scratch, uuid.uuid4().hex[:8])  # another deployment's: no job here
    running = _database(scratch, uuid.uuid4().hex[:8])  # a drill of ours still at work
    _drill_job(rt, running, "running")
    elsewhere = _database(scratch, uuid.uuid4().hex[:8])  # recorded on another server
    _drill_job(rt, elsewhere, "failed", server="scratch-server")

    dropped = rotation.drop_leftovers(rt)

    assert f"default/{left}" in dropped
    assert not database_exists(left)
    assert database_exists(stranger)
    assert database_exists(running)
    assert database_exists(elsewhere)
    assert all(name.endswith(left) for name in dropped if "bw_rot_" in name)
