"""db.queries.health on real PostgreSQL: each project's last backup, job, schedule lag, drill."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from db import session
from db.queries import health
from tests.integration.metrics import rows


@pytest.fixture
def fleet(database: session.Database) -> dict[str, health.ProjectHealth]:
    rows.fleet(database)
    with database.sessionmaker() as db_session:
        return {p.project_id: p for p in health.projects(db_session)}


def test_every_project_of_backups_jobs_and_schedules_is_listed(
    fleet: dict[str, health.ProjectHealth],
) -> None:
    assert sorted(fleet) == ["proj-adhoc", "proj-failing", "proj-late", "proj-new", "proj-ok"]
    assert {p.database for p in fleet.values()} == {"app"}


def test_the_last_backup_its_size_and_its_jobs_run_time(
    database: session.Database, fleet: dict[str, health.ProjectHealth]
) -> None:
    ok = fleet["proj-ok"]
    assert ok.last_backup_bytes == 12345
    assert ok.last_backup_seconds == pytest.approx(42, abs=0.01)
    assert ok.last_job_status == "completed"
    assert not ok.failing
    assert fleet["proj-new"].last_backup_at is None


def test_lag_is_time_past_the_expected_backup(
    database: session.Database, fleet: dict[str, health.ProjectHealth]
) -> None:
    with database.sessionmaker() as db_session:
        now = health.now(db_session)
    assert fleet["proj-ok"].lag_seconds(now) == 0.0
    assert fleet["proj-late"].lag_seconds(now) == pytest.approx(7200, abs=5)
    assert fleet["proj-late"].overdue(now)
    assert not fleet["proj-ok"].overdue(now)
    assert fleet["proj-new"].lag_seconds(now) == 0.0  # enabled 10 minutes ago, period 1 hour
    assert fleet["proj-adhoc"].lag_seconds(now) is None
    assert not fleet["proj-adhoc"].overdue(now)


def test_a_failed_latest_job_marks_the_project_failing_with_its_error(
    fleet: dict[str, health.ProjectHealth],
) -> None:
    failing = fleet["proj-failing"]
    assert failing.failing
    assert failing.last_error == "pg_dump: connection refused"
    assert fleet["proj-ok"].last_error is None


def test_a_projects_last_drill_is_read_with_its_backup(database: session.Database) -> None:
    backup_id = rows.backup(database, "proj-drilled", ago="1 hour")
    with database.sessionmaker() as db_session:
        assert health.drills(db_session) == []
        db_session.execute(
            text(
                "UPDATE control_plane.backups SET drilled_at = now(), drill_status = 'failed'"
                " WHERE id = :id"
            ),
            {"id": backup_id},
        )
        [drilled] = health.projects(db_session)
        assert (drilled.project_id, drilled.drill_status) == ("proj-drilled", "failed")
        assert drilled.drilled_at is not None
        assert [row[:2] for row in health.drills(db_session)] == [("proj-drilled", "app")]
        db_session.rollback()


def test_job_counts_by_type_and_status(
    database: session.Database, fleet: dict[str, health.ProjectHealth]
) -> None:
    with database.sessionmaker() as db_session:
        assert health.job_counts(db_session) == {
            ("backup", "completed"): 1,
            ("backup", "failed"): 1,
        }
