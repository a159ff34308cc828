"""A request's project scope on real PostgreSQL: restore targets, claims, refusals, ageing out."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from db import models
from db.queries import jobs as db_jobs
from tests.integration.restore.test_steps import Env
from tests.support.fake_send import FakeSend
from tests.support.sources import make_source_database
from worker import errors
from worker.contract import tasks
from worker.jobs import intake
from worker.restore import job as rj
from worker.restore import scope
from worker.scheduling import reaper


def _backup(project: str, database: str) -> models.Backup:
    return models.Backup(id=uuid.uuid4(), project_id=project, database=database, server="default")


def _request(target: str, *, clean: bool = False) -> rj.RestoreRequest:
    return rj.RestoreRequest(rj.RESTORE, uuid.uuid4(), target, clean)


def _row(env: Env, job_type: str, project: str, payload: dict[str, object]) -> uuid.UUID:
    return intake.insert_pending(env.rt, job_type=job_type, project_id=project, payload=payload)


def test_the_target_rule(env: Env, source_db: str, targets: list[str]) -> None:
    mine = _backup("proj-a", source_db)
    job = uuid.uuid4()
    # Its own database (a replace), and a new one the pattern allows.
    own = rj.RestoreRequest(rj.RESTORE, mine.id, None, mode=tasks.MODE_REPLACE)
    assert scope.check(env.rt, own, mine, job) is False
    assert scope.check(env.rt, _request(f"{source_db}_copy"), mine, job) is True
    # A new one it does not allow; an existing one nobody's restore of proj-a created.
    with pytest.raises(errors.InputError, match="RESTORE_TARGET_NAMES allows"):
        scope.check(env.rt, _request("elsewhere"), mine, job)
    existing = f"{source_db}_made"
    targets.append(existing)
    make_source_database(existing, rows=1)
    with pytest.raises(errors.InputError, match="it exists"):
        scope.check(env.rt, _request(existing, clean=True), mine, job)
    # Once a completed restore of proj-a created it, proj-a may restore into it; proj-b not.
    payload = {"target_database": existing, "server": "default", "new_target": True}
    created = _row(env, rj.RESTORE, "proj-a", payload)
    assert scope.check(env.rt, _request(existing, clean=True), mine, created) is False
    with pytest.raises(errors.InputError, match="it exists"):
        scope.check(env.rt, _request(existing, clean=True), mine, job)  # not completed yet
    with env.rt.database.transaction() as s:
        db_jobs.complete_job(s, created, {})
    assert scope.check(env.rt, _request(existing, clean=True), mine, job) is False
    theirs = _backup("proj-b", source_db)
    with pytest.raises(errors.InputError, match="not a restore target of project proj-b"):
        scope.check(env.rt, _request(existing, clean=True), theirs, job)
    assert scope.name_allowed("{project}-*, {database}_x", "proj-a-1", mine)
    assert not scope.name_allowed("", f"{source_db}_copy", mine)


def test_a_claim_is_only_of_a_row_of_its_type_and_project(env: Env) -> None:
    restore_row = _row(env, rj.RESTORE, "proj-b", {})
    for job_type, project in (("backup", "proj-b"), (rj.RESTORE, "proj-a")):
        with pytest.raises(errors.InputError, match="its own type and project"):
            intake.claim(
                env.rt,
                job_id=restore_row,
                job_type=job_type,
                project_id=project,
                payload={},
                celery_task_id=None,
                hostname="h",
            )
    drill_row = _row(env, rj.RESTORE, "proj-b", {"mode": tasks.MODE_DRILL})
    with pytest.raises(errors.InputError, match="drill is internal"):
        intake.claim(
            env.rt,
            job_id=drill_row,
            job_type=rj.RESTORE,
            project_id="proj-b",
            payload={"mode": tasks.MODE_NEW},
            celery_task_id=None,
            hostname="h",
        )
    with env.rt.database.transaction() as s:
        for jid in (restore_row, drill_row):
            row = db_jobs.get_job(s, jid)
            assert row is not None
            assert (row.status, row.worker_hostname) == ("pending", None)


def test_refuse_fails_only_a_pending_row_of_its_own_type_and_project(env: Env) -> None:
    bad = errors.InputError("bad")
    running = _row(env, "backup", "proj-a", {})
    with env.rt.database.transaction() as s:
        db_jobs.start_job(s, running, hostname="h", max_attempts=3)
    other = _row(env, rj.RESTORE, "proj-b", {})
    own = _row(env, rj.RESTORE, "proj-a", {})
    for jid in (running, other):
        refused = intake.refuse(
            env.rt, bad, job_type=rj.RESTORE, job_id=str(jid), project_id="proj-a", task_id="t"
        )
        assert refused is None
    assert intake.refuse(
        env.rt, bad, job_type=rj.RESTORE, job_id=str(own), project_id="proj-a", task_id="t"
    ) == str(own)
    fresh = intake.refuse(env.rt, bad, job_type=rj.VERIFY, job_id=None, project_id="p", task_id="x")
    with env.rt.database.transaction() as s:
        states = {jid: db_jobs.get_job(s, jid) for jid in (running, other, own)}
        made = db_jobs.get_job(s, uuid.UUID(str(fresh)))
    assert [states[j].status for j in (running, other, own)] == ["running", "pending", "failed"]  # type: ignore[union-attr]
    assert made is not None
    assert (made.type, made.status, made.error) == ("verify", "failed", "bad")


def test_a_pending_row_nobody_claims_ages_out(env: Env) -> None:
    old = _row(env, rj.RESTORE, "proj-a", {})
    young = _row(env, rj.RESTORE, "proj-a", {})
    with env.rt.database.transaction() as s:
        s.execute(
            text(
                "UPDATE control_plane.jobs SET created_at = now() - interval '2 days'"
                " WHERE id = :id"
            ),
            {"id": old},
        )
    result = reaper.reap(env.rt, FakeSend().publisher())
    assert str(old) in result.failed
    with env.rt.database.transaction() as s:
        aged, kept = db_jobs.get_job(s, old), db_jobs.get_job(s, young)
    assert aged is not None
    assert kept is not None
    assert aged.status == "failed"
    assert "JOB_PENDING_TIMEOUT" in str(aged.error)
    assert kept.status == "pending"
