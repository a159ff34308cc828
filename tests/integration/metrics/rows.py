"""Rows of the control-plane tables, written straight in SQL with times relative to now()."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from db import session

SHA = "0" * 64


def job(
    database: session.Database,
    project: str,
    status: str,
    *,
    ago: str,
    ran: str = "30 seconds",
    error: str | None = None,
    db_name: str = "app",
) -> uuid.UUID:
    """A finished backup job of `project`, finished `ago` (an SQL interval) after `ran`."""
    job_id = uuid.uuid4()
    with database.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO control_plane.jobs (id, type, project_id, status, error, payload,"
                " started_at, finished_at) VALUES (:id, 'backup', :p, :s, :e,"
                " jsonb_build_object('database', CAST(:d AS text)),"
                " now() - CAST(:ago AS interval) - CAST(:ran AS interval),"
                " now() - CAST(:ago AS interval))"
            ),
            {
                "id": job_id,
                "p": project,
                "s": status,
                "e": error,
                "d": db_name,
                "ago": ago,
                "ran": ran,
            },
        )
    return job_id


def backup(
    database: session.Database,
    project: str,
    *,
    ago: str,
    size: int = 1000,
    job_id: uuid.UUID | None = None,
    db_name: str = "app",
) -> uuid.UUID:
    """A one-part backup of `project` created `ago`."""
    backup_id = uuid.uuid4()
    with database.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO control_plane.backups (id, project_id, job_id, database, filename,"
                " size_bytes, sha256, compression, chat_id, part_count, created_at) VALUES"
                " (:id, :p, :j, :d, 'f.dump.zst', :size, :sha, 'zstd', '-1001', 1,"
                " now() - CAST(:ago AS interval))"
            ),
            {
                "id": backup_id,
                "p": project,
                "j": job_id,
                "d": db_name,
                "size": size,
                "sha": SHA,
                "ago": ago,
            },
        )
        conn.execute(
            text(
                "INSERT INTO control_plane.backup_parts (backup_id, index, file_id,"
                " file_unique_id, message_id, chat_id, size_bytes, sha256) VALUES"
                " (:id, 0, 'file', 'unique', 1, '-1001', :size, :sha)"
            ),
            {"id": backup_id, "size": size, "sha": SHA},
        )
    return backup_id


def schedule(
    database: session.Database, project: str, *, period: int, enabled_ago: str, db_name: str = "app"
) -> None:
    """An enabled interval schedule of `period` seconds, enabled `enabled_ago`."""
    with database.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO control_plane.backup_schedules (project_id, database,"
                " interval_seconds, period_seconds, enabled_at, next_run_at) VALUES"
                " (:p, :d, :period, :period, now() - CAST(:ago AS interval), now())"
            ),
            {"p": project, "d": db_name, "period": period, "ago": enabled_ago},
        )


def fleet(database: session.Database) -> None:
    """Five projects, one of each state: failing, overdue, ok, never backed up, unscheduled."""
    ok_job = job(database, "proj-ok", "completed", ago="10 minutes", ran="42 seconds")
    backup(database, "proj-ok", ago="10 minutes", size=12345, job_id=ok_job)
    schedule(database, "proj-ok", period=3600, enabled_ago="1 day")
    backup(database, "proj-late", ago="3 hours")
    schedule(database, "proj-late", period=3600, enabled_ago="1 day")
    backup(database, "proj-failing", ago="30 minutes")
    job(database, "proj-failing", "failed", ago="5 minutes", error="pg_dump: connection refused")
    schedule(database, "proj-failing", period=3600, enabled_ago="1 day")
    schedule(database, "proj-new", period=3600, enabled_ago="10 minutes")
    backup(database, "proj-adhoc", ago="2 days")
