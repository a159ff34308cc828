"""The CLI's lines for a control plane `migrate` has not set up, from PostgreSQL's own errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from db import migrate, session
from db.queries import jobs as db_jobs
from worker import settings
from worker.cli import common, failure


@pytest.fixture
def control_plane(monkeypatch: pytest.MonkeyPatch, empty_db_url: str) -> Iterator[str]:
    monkeypatch.setenv("DATABASE_URL", empty_db_url)
    settings.current.cache_clear()
    yield empty_db_url
    settings.current.cache_clear()


def listing_fails(url: str) -> BaseException:
    database = session.Database(url)
    try:
        with database.transaction() as db_session:
            db_jobs.list_jobs(db_session, project_id=None, status=None, limit=1, offset=0)
    except Exception as exc:  # noqa: BLE001 - the exception under test, whatever it is
        return exc
    finally:
        database.dispose()
    raise AssertionError("the jobs table answered")


def where(url: str) -> str:
    return url.rsplit("@", 1)[-1]


def test_no_tables_says_to_run_migrate(control_plane: str) -> None:
    found = failure.translate(listing_fails(control_plane))
    assert found == failure.Failure(
        f"the control plane at {where(control_plane)} (DATABASE_URL) has no tables yet: "
        "run `backup-worker migrate`",
        common.EXIT_ERROR,
    )


def test_an_older_schema_says_to_run_migrate(control_plane: str) -> None:
    migrate.upgrade(control_plane)
    database = session.Database(control_plane)
    with database.engine.begin() as connection:
        connection.execute(text("ALTER TABLE control_plane.jobs DROP COLUMN attempts"))
    database.dispose()
    found = failure.translate(listing_fails(control_plane))
    assert found.exit_code == common.EXIT_ERROR
    assert found.message.endswith(
        "has an older schema than this backup-worker: run `backup-worker migrate`"
    )
