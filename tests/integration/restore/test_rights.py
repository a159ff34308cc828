"""Whose rights a restore runs with (worker.restore.rights), on the shared server."""

from __future__ import annotations

import logging
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from db import models
from db.queries import jobs as db_jobs
from tests.integration.restore.test_steps import Env
from tests.support.sources import drop_database, owner_role
from worker import errors
from worker.postgres import ephemeral, source, target
from worker.restore import rights

PARAMS = source.SourceParams.from_url("postgresql://postgres@127.0.0.1:5432/postgres")


def backup(owner: str | None) -> models.Backup:
    contents: models.JSONObject | None = None
    if owner is not None:
        contents = {"tables": None, "extensions": [], "owner": owner}
    return models.Backup(id=uuid.uuid4(), database="shop", contents=contents)


@pytest.fixture
def role() -> Iterator[str]:
    with owner_role() as name:
        yield name


@pytest.fixture
def existing(role: str) -> Iterator[str]:
    name = f"bw_rights_{uuid.uuid4().hex[:8]}"
    assert target.create(PARAMS, name, role)
    yield name
    drop_database(name)


def test_an_existing_targets_owner_comes_first(existing: str, role: str) -> None:
    assert rights.owner(PARAMS, existing, backup("postgres"), uuid.uuid4()) == role


def test_a_new_target_belongs_to_the_owner_the_backup_recorded(role: str) -> None:
    assert rights.owner(PARAMS, "bw_rights_none", backup(role), uuid.uuid4()) == role


def test_an_owner_the_server_lacks_or_none_recorded_is_refused_saying_what_to_do() -> None:
    gone = f"bw_gone_{uuid.uuid4().hex[:8]}"
    with pytest.raises(errors.RestoreError, match=f"role {gone}, which owned shop when"):
        rights.owner(PARAMS, "bw_rights_none", backup(gone), uuid.uuid4())
    with pytest.raises(errors.RestoreError, match="does not record who owned its database"):
        rights.owner(PARAMS, "bw_rights_none", backup(None), uuid.uuid4())


def test_without_a_record_the_archives_database_entry_names_the_owner(
    existing: str, role: str, tmp_path: Path
) -> None:
    archive = tmp_path / "a.pgdump"
    subprocess.run(
        ["pg_dump", "-h", "127.0.0.1", "-U", "postgres", "-Fc", "-f", str(archive), existing],
        check=True,
    )
    found = rights.owner(PARAMS, "bw_rights_none", backup(None), uuid.uuid4(), archive=archive)
    assert found == role


def test_a_superuser_owner_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=rights.__name__):
        assert rights.owner(PARAMS, "bw_rights_none", backup("postgres"), uuid.uuid4()) == (
            "postgres"
        )
    assert "belongs to role postgres, a superuser" in caplog.text


def test_a_drill_runs_as_the_urls_user_only_when_that_user_owned_the_database(role: str) -> None:
    assert rights.drill_as(PARAMS, backup("postgres")) == "postgres"
    assert rights.drill_as(PARAMS, backup(role)) is None
    assert rights.drill_as(PARAMS, backup(None)) is None


def test_the_expiry_sweep_drops_a_killed_workers_restore_role_on_every_server(
    env: Env, role: str
) -> None:
    # A job the control plane knows as ended, whose worker died before dropping its role.
    job_id = uuid.uuid4()
    with env.rt.database.transaction() as session:
        db_jobs.create_job(
            session,
            job_id=job_id,
            type=models.JobType.RESTORE.value,
            project_id="proj-rights",
            payload={},
            celery_task_id=str(job_id),
        )
        db_jobs.fail_job(session, job_id, "the worker was killed")
    leftover = ephemeral.create(PARAMS, job_id, role).name
    try:
        assert leftover in rights.sweep_servers(env.rt)
        assert not ephemeral.role_exists(PARAMS, leftover)
    finally:
        ephemeral.drop(PARAMS, leftover)
