"""db.queries.stats.stats on a known data set."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable

import pytest

from db import session
from db.queries import stats as db_stats
from worker import errors

NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def test_stats_on_a_known_data_set(
    database: session.Database, add_backup: Callable[..., uuid.UUID]
) -> None:
    # proj-1: two active (one at the 7-day boundary, one a second past it), newest is expired.
    at_boundary = add_backup(
        project_id="proj-1", size_bytes=100, created_at=NOW - 3 * DAY, expires_at=NOW + 7 * DAY
    )
    newest_active = add_backup(
        project_id="proj-1",
        size_bytes=200,
        created_at=NOW - DAY,
        expires_at=NOW + 7 * DAY + dt.timedelta(seconds=1),
    )
    add_backup(
        project_id="proj-1",
        size_bytes=1000,
        status="expired",
        created_at=NOW - dt.timedelta(hours=1),
    )
    # proj-2: an active file backup already overdue (not swept yet), and a newer deleted one.
    overdue = add_backup(
        project_id="proj-2",
        size_bytes=50,
        type="file",
        created_at=NOW - 2 * DAY,
        expires_at=NOW - dt.timedelta(hours=1),
    )
    add_backup(project_id="proj-2", size_bytes=10, status="deleted", created_at=NOW - DAY / 2)
    # proj-3: active, never expires. proj-4: nothing active, so no "latest".
    forever = add_backup(project_id="proj-3", size_bytes=30, created_at=NOW - 5 * DAY)
    add_backup(project_id="proj-4", size_bytes=5, status="expired", created_at=NOW - 9 * DAY)

    with database.transaction() as db_session:
        figures = db_stats.stats(db_session, now=NOW)

    assert figures.by_status == {"active": 4, "expired": 2, "deleted": 1}
    assert figures.by_type == {"database": 6, "file": 1}
    assert figures.total == 7
    assert figures.total_bytes == 100 + 200 + 50 + 30
    assert figures.expiring_soon == 2  # at_boundary and overdue
    assert at_boundary != newest_active
    assert [(x.project_id, x.backup_id, x.age_seconds) for x in figures.latest] == [
        ("proj-1", newest_active, 86_400),
        ("proj-2", overdue, 2 * 86_400),
        ("proj-3", forever, 5 * 86_400),
    ]
    assert figures.latest[0].created_at == NOW - DAY

    data = figures.to_json()
    assert json.loads(json.dumps(data)) == data
    assert data["latest"][0] == {
        "project_id": "proj-1",
        "backup_id": str(newest_active),
        "created_at": (NOW - DAY).isoformat(),
        "age_seconds": 86_400,
    }


def test_stats_of_an_empty_table(database: session.Database) -> None:
    with database.transaction() as db_session:
        figures = db_stats.stats(db_session)
    assert figures == db_stats.BackupStats(
        by_status={}, by_type={}, total=0, total_bytes=0, expiring_soon=0, latest=[]
    )


def test_stats_uses_the_database_clock_by_default(
    database: session.Database, add_backup: Callable[..., uuid.UUID]
) -> None:
    created = dt.datetime.now(dt.UTC) - DAY
    add_backup(created_at=created, expires_at=dt.datetime.now(dt.UTC) + DAY)
    with database.transaction() as db_session:
        figures = db_stats.stats(db_session)
    assert figures.expiring_soon == 1
    assert abs(figures.latest[0].age_seconds - 86_400) < 60


def test_stats_refuses_a_naive_now(database: session.Database) -> None:
    with pytest.raises(errors.InputError), database.transaction() as db_session:
        db_stats.stats(db_session, now=dt.datetime(2030, 1, 1))
