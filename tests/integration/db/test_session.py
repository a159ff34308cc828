"""db.session.Database: lazy engine, transactions, and a pool that survives a fork."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import Integer, func, select, text

from db import models, session
from db.queries import jobs


def test_nothing_connects_before_first_use() -> None:
    unreachable = session.Database("postgresql+psycopg2://nobody@127.0.0.1:1/nothing")
    assert "nothing" in repr(unreachable)
    unreachable.dispose()


def test_repr_hides_the_password() -> None:
    db = session.Database("postgresql+psycopg2://app:s3cret@db.example:5432/control")
    assert "s3cret" not in repr(db)


def test_transaction_commits_on_success_and_rolls_back_on_error(
    database: session.Database, make_job: Callable[..., uuid.UUID]
) -> None:
    job_id = make_job()

    def cancel_then_crash() -> None:
        with database.transaction() as db_session:
            jobs.cancel_job(db_session, job_id, "never committed")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        cancel_then_crash()
    with database.transaction() as db_session:
        job = jobs.get_job(db_session, job_id)
        assert job is not None
        assert job.status == "pending"
        count = db_session.scalars(select(func.count()).select_from(models.Job)).one()
    assert count == 1


def test_rows_in_one_session_follow_the_updates(
    database: session.Database, make_job: Callable[..., uuid.UUID]
) -> None:
    job_id = make_job()
    with database.transaction() as db_session:
        job = jobs.start_job(db_session, job_id, hostname="h", max_attempts=3)
        assert job is not None
        jobs.set_progress(db_session, job_id, stage="upload", progress=55)
        assert jobs.get_job(db_session, job_id) is job
        assert (job.stage, job.progress) == ("upload", 55)
        jobs.complete_job(db_session, job_id, {"ok": True})
        assert jobs.get_job(db_session, job_id) is job
        assert (job.status, job.progress, job.result) == ("completed", 100, {"ok": True})


def _backend_pid(database: session.Database) -> int:
    with database.transaction() as db_session:
        return db_session.scalars(select(func.pg_backend_pid(type_=Integer))).one()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_builds_its_own_pool(database: session.Database) -> None:
    parent_backend = _backend_pid(database)  # the parent's pool now holds one connection
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit status only
        ok = False
        try:
            ok = _backend_pid(database) != parent_backend
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The child neither used nor closed the parent's connection: the same backend answers.
    assert _backend_pid(database) == parent_backend
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar_one() == 1
