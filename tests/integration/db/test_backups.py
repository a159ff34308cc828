"""db.queries.backups on real PostgreSQL: idempotent recording, validation, listing, expiry."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Callable

import pytest
import sqlalchemy.exc
from sqlalchemy import delete, func, select

from db import models, session
from db.queries import backups
from worker import errors

NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.UTC)


def _counts(database: session.Database) -> tuple[int, int]:
    with database.transaction() as db_session:
        count = select(func.count())
        return (
            db_session.scalars(count.select_from(models.Backup)).one(),
            db_session.scalars(count.select_from(models.BackupPart)).one(),
        )


def test_record_backup_twice_for_one_job_records_once(
    database: session.Database,
    make_job: Callable[..., uuid.UUID],
    make_new_backup: Callable[..., backups.NewBackup],
) -> None:
    job_id = make_job()
    new = make_new_backup(job_id=job_id, part_sizes=(100, 100, 7))
    # Parts may arrive in any order; they are stored and read back by index.
    new = dataclasses.replace(new, parts=new.parts[::-1])
    with database.transaction() as db_session:
        first, created = backups.record_backup(db_session, new)
    assert created
    with database.transaction() as db_session:
        again, created_again = backups.record_backup(db_session, new)
    assert not created_again
    assert again.id == first.id
    assert _counts(database) == (1, 3)

    assert [part.index for part in again.parts] == [0, 1, 2]
    assert [part.size_bytes for part in again.parts] == [100, 100, 7]
    assert (again.part_count, again.size_bytes, again.status) == (3, 207, "active")
    data = again.to_json()
    assert json.loads(json.dumps(data)) == data
    assert data["job_id"] == str(job_id)
    assert [part["file_id"] for part in data["parts"]] == [p.file_id for p in new.parts[::-1]]


def test_record_backup_without_job_inserts_each_time(
    database: session.Database, make_new_backup: Callable[..., backups.NewBackup]
) -> None:
    new = make_new_backup()
    with database.transaction() as db_session:
        assert backups.record_backup(db_session, new)[1]
        assert backups.record_backup(db_session, new)[1]
    assert _counts(database) == (2, 4)


def _bad_parts(new: backups.NewBackup) -> dict[str, backups.NewBackup]:
    first, second = new.parts
    return {
        "no parts": dataclasses.replace(new, parts=[], size_bytes=0),
        "gap": dataclasses.replace(new, parts=[first, dataclasses.replace(second, index=2)]),
        "duplicate": dataclasses.replace(new, parts=[first, dataclasses.replace(second, index=0)]),
        "sizes": dataclasses.replace(new, size_bytes=new.size_bytes + 1),
        "sha": dataclasses.replace(new, sha256=new.sha256.upper()),
        "part sha": dataclasses.replace(
            new, parts=[first, dataclasses.replace(second, sha256="ab" * 31)]
        ),
    }


@pytest.mark.parametrize("case", ["no parts", "gap", "duplicate", "sizes", "sha", "part sha"])
def test_record_backup_refuses_inconsistent_parts(
    database: session.Database,
    make_new_backup: Callable[..., backups.NewBackup],
    case: str,
) -> None:
    bad = _bad_parts(make_new_backup(part_sizes=(10, 20)))[case]
    with pytest.raises(errors.IntegrityError), database.transaction() as db_session:
        backups.record_backup(db_session, bad)
    assert _counts(database) == (0, 0)


def test_record_backup_refuses_unknown_names(
    database: session.Database, make_new_backup: Callable[..., backups.NewBackup]
) -> None:
    new = make_new_backup()
    naive = dt.datetime(2030, 1, 1)
    with database.transaction() as db_session:
        with pytest.raises(errors.InputError, match="compression"):
            backups.record_backup(db_session, dataclasses.replace(new, compression="gzip"))
        with pytest.raises(errors.InputError, match="type"):
            backups.record_backup(db_session, dataclasses.replace(new, type="tape"))
        with pytest.raises(errors.InputError, match="time zone"):
            backups.record_backup(db_session, dataclasses.replace(new, expires_at=naive))


def test_get_backup_and_by_job(
    database: session.Database,
    make_job: Callable[..., uuid.UUID],
    make_new_backup: Callable[..., backups.NewBackup],
) -> None:
    job_id = make_job()
    with database.transaction() as db_session:
        recorded, _ = backups.record_backup(db_session, make_new_backup(job_id=job_id))
    with database.transaction() as db_session:
        by_id = backups.get_backup(db_session, recorded.id)
        by_job = backups.get_backup_by_job(db_session, job_id)
        assert backups.get_backup(db_session, uuid.uuid4()) is None
        assert backups.get_backup_by_job(db_session, uuid.uuid4()) is None
    assert by_id is not None
    assert by_job is not None
    assert by_id.id == by_job.id == recorded.id
    assert len(by_id.parts) == 2  # loaded, readable after the session closed


def test_deleting_rows_keeps_backups_and_drops_parts(
    database: session.Database,
    make_job: Callable[..., uuid.UUID],
    make_new_backup: Callable[..., backups.NewBackup],
) -> None:
    job_id = make_job()
    with database.transaction() as db_session:
        recorded, _ = backups.record_backup(db_session, make_new_backup(job_id=job_id))
    with database.transaction() as db_session:
        db_session.execute(delete(models.Job).where(models.Job.id == job_id))
    with database.transaction() as db_session:
        orphan = backups.get_backup(db_session, recorded.id)
        assert orphan is not None
        assert orphan.job_id is None
        db_session.execute(delete(models.Backup).where(models.Backup.id == recorded.id))
    assert _counts(database) == (0, 0)


def test_list_backups_newest_first_without_parts(
    database: session.Database, add_backup: Callable[..., uuid.UUID]
) -> None:
    ids = [
        add_backup(
            project_id=f"proj-{i % 2}",
            status="expired" if i == 3 else "active",
            created_at=NOW - dt.timedelta(hours=10 - i),
        )
        for i in range(5)
    ]
    newest_first = ids[::-1]
    with database.transaction() as db_session:
        listed = backups.list_backups(db_session)
        assert [b.id for b in listed] == newest_first
        page = backups.list_backups(db_session, limit=2, offset=1)
        assert [b.id for b in page] == newest_first[1:3]
        by_project = backups.list_backups(db_session, project_id="proj-1")
        assert [b.id for b in by_project] == [ids[3], ids[1]]
        assert [b.id for b in backups.list_backups(db_session, status="expired")] == [ids[3]]
    assert "parts" not in listed[0].to_json()
    with pytest.raises(sqlalchemy.exc.InvalidRequestError):
        _ = listed[0].parts


def test_list_backups_before_a_cursor_pages_like_offset(
    database: session.Database, add_backup: Callable[..., uuid.UUID]
) -> None:
    # Pairs made at the same instant: the id orders them, on both sides of a page break.
    made = []
    for i in range(12):
        its_project, its_status = f"proj-{i % 3}", "expired" if i % 4 == 0 else "active"
        created = NOW - dt.timedelta(hours=i // 2)
        backup_id = add_backup(project_id=its_project, status=its_status, created_at=created)
        made.append((created, backup_id, its_project, its_status))
    newest_first = sorted(made, reverse=True)
    with database.transaction() as db_session:
        filters: list[tuple[str | None, str | None]] = [
            (None, None),
            ("proj-1", None),
            (None, "active"),
        ]
        for project, status in filters:
            expected = [
                row[1]
                for row in newest_first
                if project in (None, row[2]) and status in (None, row[3])
            ]
            paged: list[uuid.UUID] = []
            before: uuid.UUID | None = None
            for _ in made:  # bounded: a cursor that repeats rows must fail the test, not hang it
                page = backups.list_backups(
                    db_session, project_id=project, status=status, limit=3, before=before
                )
                paged += [b.id for b in page]
                before = page[-1].id if page else before
            assert paged == expected, (project, status)
        # offset counts from the cursor
        after_first = backups.list_backups(db_session, limit=3, offset=3, before=newest_first[0][1])
        assert [b.id for b in after_first] == [row[1] for row in newest_first[4:7]]
        with pytest.raises(errors.NotFoundError, match="does not exist"):
            backups.list_backups(db_session, before=uuid.uuid4())


def test_mark_expired_marks_due_active_backups_once(
    database: session.Database, add_backup: Callable[..., uuid.UUID]
) -> None:
    hour = dt.timedelta(hours=1)
    long_due = add_backup(expires_at=NOW - 2 * hour)
    due = add_backup(expires_at=NOW - hour)
    exactly_now = add_backup(expires_at=NOW)
    add_backup(expires_at=NOW + hour)
    add_backup(expires_at=None)
    add_backup(expires_at=NOW - hour, status="deleted")

    with database.transaction() as db_session:
        assert backups.mark_expired(db_session, now=NOW, limit=1) == [long_due]
    with database.transaction() as db_session:
        assert set(backups.mark_expired(db_session, now=NOW)) == {due, exactly_now}
    with database.transaction() as db_session:
        assert backups.mark_expired(db_session, now=NOW) == []
        grouped = select(models.Backup.status, func.count()).group_by(models.Backup.status)
        by_status = {status: count for status, count in db_session.execute(grouped)}
    assert by_status == {"expired": 3, "active": 2, "deleted": 1}


def test_mark_expired_defaults_to_the_database_clock(
    database: session.Database, add_backup: Callable[..., uuid.UUID]
) -> None:
    past = add_backup(expires_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    add_backup(expires_at=dt.datetime(2999, 1, 1, tzinfo=dt.UTC))
    with database.transaction() as db_session:
        assert backups.mark_expired(db_session) == [past]
