"""Commands that read the control-plane tables: jobs show/list, backups list/stats."""

from __future__ import annotations

import uuid

import click
from rich.table import Table

from db import backups as db_backups
from db import jobs as db_jobs
from db import models
from worker import errors, watch
from worker.commands import common


@click.group()
def jobs() -> None:
    """Read the jobs table."""


@jobs.command("show")
@click.argument("job_id", type=click.UUID)
@click.option("--json", "as_json", is_flag=True)
@common.guard
def jobs_show(job_id: uuid.UUID, as_json: bool) -> None:
    """One job, whole."""
    state = watch.read(common.build_runtime().database, job_id)
    if state is None:
        raise errors.NotFoundError(f"job {job_id} does not exist")
    common.emit(state, as_json)


@jobs.command("list")
@click.option("--project", "project_id", default=None)
@click.option("--status", default=None)
@click.option("--limit", type=click.IntRange(1, 1000), default=20)
@click.option("--offset", type=click.IntRange(0), default=0)
@click.option("--json", "as_json", is_flag=True)
@common.guard
def jobs_list(
    project_id: str | None, status: str | None, limit: int, offset: int, as_json: bool
) -> None:
    """Jobs, newest first."""
    with common.build_runtime().database.transaction() as session:
        rows = [
            models.job_json(job)
            for job in db_jobs.list_jobs(
                session, project_id=project_id, status=status, limit=limit, offset=offset
            )
        ]
    if as_json:
        common.emit({"jobs": rows}, True)
        return
    table = Table("id", "type", "project", "status", "stage", "%", "created", "error")
    for row in rows:
        table.add_row(
            *(str(row[key] or "") for key in ("id", "type", "project_id", "status", "stage")),
            str(row["progress"]),
            str(row["created_at"])[:19],
            str(row["error"] or "")[:60],
        )
    common.out.print(table)


@click.group()
def backups() -> None:
    """Read the backups table."""


@backups.command("list")
@click.option("--project", "project_id", default=None)
@click.option("--status", default=None)
@click.option("--limit", type=click.IntRange(1, 1000), default=20)
@click.option("--offset", type=click.IntRange(0), default=0)
@click.option("--json", "as_json", is_flag=True)
@common.guard
def backups_list(
    project_id: str | None, status: str | None, limit: int, offset: int, as_json: bool
) -> None:
    """Backups, newest first."""
    with common.build_runtime().database.transaction() as session:
        rows = [
            models.backup_json(row)
            for row in db_backups.list_backups(
                session, project_id=project_id, status=status, limit=limit, offset=offset
            )
        ]
    if as_json:
        common.emit({"backups": rows}, True)
        return
    table = Table("id", "project", "database", "status", "bytes", "parts", "created", "expires")
    for row in rows:
        table.add_row(
            str(row["id"]),
            str(row["project_id"]),
            str(row["database"]),
            str(row["status"]),
            f"{row['size_bytes']:,}",
            str(row["part_count"]),
            str(row["created_at"])[:19],
            str(row["expires_at"])[:19],
        )
    common.out.print(table)


@backups.command("stats")
@click.option("--json", "as_json", is_flag=True)
@common.guard
def backups_stats(as_json: bool) -> None:
    """Totals by status and type, bytes, expiring soon, latest backup per project."""
    with common.build_runtime().database.transaction() as session:
        figures = db_backups.stats(session).to_json()
    common.emit(figures, as_json)
