"""db.queries.expiry on real PostgreSQL: who is expired, and the newest that never is."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import select, update

from db import models, session
from db.queries import expiry

HOUR = dt.timedelta(hours=1)
AddBackup = Callable[..., uuid.UUID]


@pytest.fixture
def add(database: session.Database, add_backup: AddBackup) -> AddBackup:
    """add_backup, `age` hours old and due (or not), in a chosen database (None for files)."""

    def make(
        project_id: str = "proj-1",
        *,
        age: int,
        due: bool = True,
        database_name: str | None = "app",
        type: str = "database",
        status: str = "active",
    ) -> uuid.UUID:
        now = dt.datetime.now(dt.UTC)
        backup_id = add_backup(
            project_id=project_id,
            type=type,
            status=status,
            created_at=now - age * HOUR,
            # Due ones expired in the order they were made, the oldest first.
            expires_at=now - (1 + age) * dt.timedelta(minutes=1) if due else now + 24 * HOUR,
        )
        with database.transaction() as db_session:
            db_session.execute(
                update(models.Backup)
                .where(models.Backup.id == backup_id)
                .values(database=database_name)
            )
        return backup_id

    return make


def _statuses(database: session.Database) -> dict[uuid.UUID, str]:
    with database.transaction() as db_session:
        rows = db_session.execute(select(models.Backup.id, models.Backup.status))
        return {backup_id: status for backup_id, status in rows}


def test_expire_due_spares_the_newest_of_each_project_type_and_database(
    database: session.Database, add: AddBackup
) -> None:
    # proj-1/app: all due, the newest stays. proj-1/other: its only backup, due, stays.
    app = [add(age=age) for age in (3, 2, 1)]
    other = add(age=5, database_name="other")
    # proj-1 files (database NULL): one group of their own, whatever the database backups do.
    files = [add(age=age, type="file", database_name=None) for age in (4, 6)]
    # proj-2: the newest is not due, so every due one goes.
    proj_2 = [add("proj-2", age=age) for age in (9, 8)]
    proj_2_current = add("proj-2", age=7, due=False)
    # proj-4: a newer file backup named after the same database does not replace its newest.
    proj_4_dump = add("proj-4", age=3)
    add("proj-4", age=1, due=False, type="file")
    # Already expired or deleted rows are neither expired again nor anyone's newest.
    add("proj-3", age=1, status="expired")
    proj_3_only = add("proj-3", age=2)
    add("proj-3", age=0, status="deleted")

    with database.transaction() as db_session:
        expired = expiry.expire_due(db_session)

    assert sorted(expired) == sorted([app[0], app[1], files[1], *proj_2])
    statuses = _statuses(database)
    for kept in (app[2], other, files[0], proj_2_current, proj_3_only, proj_4_dump):
        assert statuses[kept] == "active"
    with database.transaction() as db_session:
        assert expiry.expire_due(db_session) == []


def test_expire_due_with_a_limit_takes_the_longest_due_first(
    database: session.Database, add: AddBackup
) -> None:
    made = [add(age=age) for age in (6, 5, 4, 3)]  # made[0] is the longest overdue
    with database.transaction() as db_session:
        assert set(expiry.expire_due(db_session, limit=2)) == {made[0], made[1]}
    with database.transaction() as db_session:
        assert expiry.expire_due(db_session, limit=5) == [made[2]]  # made[3] is the newest
    assert _statuses(database)[made[3]] == "active"


def test_expire_due_skips_rows_another_transaction_holds(
    database: session.Database, add: AddBackup
) -> None:
    held, free = add(age=3), add(age=2)
    newest = add(age=1)
    with database.sessionmaker() as holder, holder.begin():
        holder.execute(
            select(models.Backup.id).where(models.Backup.id == held).with_for_update()
        ).one()
        with database.transaction() as db_session:
            assert expiry.expire_due(db_session) == [free]
    with database.transaction() as db_session:
        assert expiry.expire_due(db_session) == [held]
    assert _statuses(database)[newest] == "active"


def test_expire_ids_expires_only_active_ones_and_never_the_newest(
    database: session.Database, add: AddBackup
) -> None:
    old, middle = add(age=3, due=False), add(age=2, due=False)
    newest = add(age=1, due=False)
    gone = add(age=4, status="deleted")
    other_project = add("proj-2", age=5, due=False)
    with database.transaction() as db_session:
        assert expiry.expire_ids(db_session, []) == []
        expired = expiry.expire_ids(db_session, [old, newest, gone, other_project])
    assert expired == [old]
    statuses = _statuses(database)
    assert [statuses[b] for b in (middle, newest, gone, other_project)] == [
        "active",
        "active",
        "deleted",
        "active",
    ]
