"""Commands that read the control-plane tables: jobs show/list, backups list/stats/show; and
`backups forget` (worker/cli/commands/forget.py), beside them in the backups group."""

from __future__ import annotations

import click

from db import models
from db.queries import backups as db_backups
from db.queries import drills as db_drills
from db.queries import jobs as db_jobs
from db.queries import stats as db_stats
from worker import errors
from worker.cli import common, follow, human, ids, outcome
from worker.cli.commands import forget, show


def _text(header: str, key: str, width: int | None = None) -> common.Column:
    return header, lambda row: str(row[key] if row[key] is not None else "")[:width]


def _time(header: str, key: str) -> common.Column:
    return header, lambda row: human.timestamp(row[key])


def _took(row: common.Row) -> str:
    return human.between(row["started_at"], row["finished_at"])


def _id(row: common.Row) -> str:
    # restic's and git's short ids: any command takes them back (worker/cli/ids.py).
    return outcome.short(row["id"])


JOB_COLUMNS: list[common.Column] = [
    ("id", _id),
    _text("type", "type"),
    _text("project", "project_id"),
    _text("status", "status"),
    _text("stage", "stage"),
    _text("%", "progress"),
    _time("created (UTC)", "created_at"),
    ("took", _took),
    _text("error", "error", 60),
]
BACKUP_COLUMNS: list[common.Column] = [
    ("id", _id),
    _text("project", "project_id"),
    _text("database", "database"),
    _text("status", "status"),
    ("size", lambda row: human.size(row["size_bytes"])),
    _text("parts", "part_count"),
    _time("created (UTC)", "created_at"),
    _time("expires (UTC)", "expires_at"),
]


@click.group()
def jobs() -> None:
    """Read the jobs table."""


@jobs.command("show")
@click.argument("job_id", callback=ids.digits)
@click.option("--json", "as_json", is_flag=True)
@common.guard
def jobs_show(job_id: str, as_json: bool) -> None:
    """One job, whole (JOB_ID: the id, or its first 4 or more hex digits)."""
    rt = common.build_runtime()
    found = ids.resolve(rt, ids.JOB, job_id)
    state = follow.read(rt.database, found)
    if state is None:
        raise errors.NotFoundError(f"job {found} does not exist")
    if as_json:
        common.emit(state, True)
    else:
        outcome.echo(outcome.detail_lines(state))


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
    common.emit_rows("jobs", rows, JOB_COLUMNS, as_json)


@click.group()
def backups() -> None:
    """Read the backups table; forget one backup."""


@backups.command("list")
@click.option("--project", "project_id", default=None)
@click.option("--status", default=None)
@click.option("--limit", type=click.IntRange(1, 1000), default=20)
@click.option("--offset", type=click.IntRange(0), default=0)
@click.option(
    "--before",
    callback=ids.digits,
    default=None,
    help="id of the last backup of the previous page: list the ones after it",
)
@click.option("--json", "as_json", is_flag=True)
@common.guard
def backups_list(
    project_id: str | None,
    status: str | None,
    limit: int,
    offset: int,
    before: str | None,
    as_json: bool,
) -> None:
    """Backups, newest first."""
    rt = common.build_runtime()
    after = None if before is None else ids.resolve(rt, ids.BACKUP, before)
    with rt.database.transaction() as session:
        rows = [
            models.backup_json(row)
            for row in db_backups.list_backups(
                session,
                project_id=project_id,
                status=status,
                limit=limit,
                offset=offset,
                before=after,
            )
        ]
    common.emit_rows("backups", rows, BACKUP_COLUMNS, as_json)


@backups.command("stats")
@click.option("--json", "as_json", is_flag=True)
@common.guard
def backups_stats(as_json: bool) -> None:
    """Totals by status and type, bytes, expiring soon, latest backup and drill per project."""
    with common.build_runtime().database.transaction() as session:
        figures = db_stats.stats(session).to_json()
        figures["drills"] = [drill.to_json() for drill in db_drills.last_per_project(session)]
    if as_json:
        common.emit(figures, True)
    else:
        render_stats(figures)


def render_stats(figures: common.Row) -> None:
    """Totals as lines, then the latest backup and drill of each project as tables."""
    from rich.table import Table

    counts = ", ".join(f"{n} {status}" for status, n in dict(figures["by_status"]).items())  # type: ignore[call-overload]
    outcome.echo(
        [
            outcome.line("backups", f"{figures['total']} ({counts or 'none'})"),
            outcome.line("active", f"{human.size(figures['total_bytes'])} in all"),
            outcome.line("expiring", f"{figures['expiring_soon']} within 7 days"),
        ]
    )
    latest = Table("project", "latest backup", "age")
    for row in figures["latest"]:  # type: ignore[attr-defined]
        latest.add_row(
            row["project_id"], outcome.short(row["backup_id"]), human.duration(row["age_seconds"])
        )
    common.out.print(latest)
    drills = Table("project", "database", "drilled (UTC)", "status", "detail")
    for row in figures["drills"]:  # type: ignore[attr-defined]
        drills.add_row(
            row["project_id"],
            row["database"] or "",
            human.timestamp(row["drilled_at"]),
            row["status"],
            row["detail"] or "",
        )
    common.out.print(drills)


backups.add_command(show.show)
backups.add_command(forget.forget)
