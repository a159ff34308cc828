"""`backup-worker schedules add|list|remove|enable|disable` and `backup-worker sweep`."""

from __future__ import annotations

import datetime as dt

import click

from db import schedule_models
from db.queries import schedules as db_schedules
from worker import errors
from worker.cli import common, human, ids, outcome, sweeping
from worker.scheduling import rehearsal, sweep
from worker.scheduling import spec as schedule_spec


def schedule_json(row: schedule_models.BackupSchedule) -> dict[str, object]:
    """The row as the CLI prints it, with its `when` in words."""
    data = row.to_json()
    data["when"] = schedule_spec.when_of(row).describe()
    data["retention"] = schedule_spec.policy_of(row).describe()
    return data


@click.group()
def schedules() -> None:
    """Per-project backup schedules (beat's schedules.dispatch runs them)."""


@schedules.command("add")
@click.option("--project", "project_id", default=None, help="the platform's project id")
@click.option("--database", required=True, help="database to dump on the server; '*' for every one")
@click.option("--cron", default=None, help="five-field cron, e.g. '0 3 * * *', or @daily")
@click.option("--every", default=None, help="interval instead of cron, e.g. 6h, 30m, 1d")
@click.option("--timezone", default="UTC", show_default=True, help="IANA zone the cron is read in")
@click.option("--retention-days", type=int, default=None, help="expiry of each backup")
@click.option("--keep-last", type=int, default=None, help="GFS: keep the newest N")
@click.option("--keep-daily", type=int, default=None, help="GFS: newest of each of D days")
@click.option("--keep-weekly", type=int, default=None, help="GFS: newest of each of W weeks")
@click.option("--keep-monthly", type=int, default=None, help="GFS: newest of each of M months")
@click.option("--start-at", type=click.DateTime(), default=None, help="first run (UTC)")
@click.option("--disabled", is_flag=True, help="create it disabled")
@click.option("--server", default="default", show_default=True, help="source server's name")
@click.option(
    "--exclude", multiple=True, help="with --database '*': leave out names matching (repeat)"
)
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@common.guard
def add(
    project_id: str | None,
    database: str,
    cron: str | None,
    every: str | None,
    timezone: str,
    retention_days: int | None,
    keep_last: int | None,
    keep_daily: int | None,
    keep_weekly: int | None,
    keep_monthly: int | None,
    start_at: dt.datetime | None,
    disabled: bool,
    server: str,
    exclude: tuple[str, ...],
    as_json: bool,
) -> None:
    """Add a schedule for one project's database, or for every database of a server.

    With --database '*' (and no --project), each due slot backs up every database the server
    lists then, each under its own project, as `backup --all` does.
    """
    rt = common.build_runtime()
    spec = schedule_spec.ScheduleSpec.build(
        project_id=project_id,
        database=database,
        cron=cron,
        every=every,
        timezone=timezone,
        retention_days=retention_days,
        keep_last=keep_last,
        keep_daily=keep_daily,
        keep_weekly=keep_weekly,
        keep_monthly=keep_monthly,
        enabled=not disabled,
        min_interval=dt.timedelta(seconds=rt.settings.schedule_dispatch_interval),
        server=server,
        exclude=list(exclude),
    )
    first = None if start_at is None else start_at.replace(tzinfo=dt.UTC)
    with rt.database.transaction() as session:
        row = schedule_spec.create(session, spec, start_at=first)
    _said({"status": "ok", "schedule": schedule_json(row)}, as_json)


def _retention(row: common.Row) -> str:
    if row["retention"] != "none":
        return str(row["retention"])
    return str(row["retention_days"] or "")


SCHEDULE_COLUMNS: list[common.Column] = [
    ("id", lambda row: outcome.short(row["id"])),
    ("project", lambda row: str(row["project_id"])),
    ("database", lambda row: str(row["database"])),
    ("server", lambda row: str(row["server"])),
    ("when", lambda row: str(row["when"])),
    ("retention", _retention),
    ("on", lambda row: "yes" if row["enabled"] else "no"),
    ("next run (UTC)", lambda row: human.timestamp(row["next_run_at"])),
    ("last run (UTC)", lambda row: human.timestamp(row["last_run_at"])),
]


def _said(payload: common.Row, as_json: bool) -> None:
    """A schedule command's outcome: its JSON, or the schedule as one table row."""
    if as_json or "schedule" not in payload:
        common.emit(payload, as_json)
        return
    common.emit_rows("schedules", [payload["schedule"]], SCHEDULE_COLUMNS, False)  # type: ignore[list-item]


@schedules.command("list")
@click.option("--project", "project_id", default=None)
@click.option("--limit", type=click.IntRange(1, 10000), default=100)
@click.option("--offset", type=click.IntRange(0), default=0)
@click.option("--json", "as_json", is_flag=True)
@common.guard
def list_(project_id: str | None, limit: int, offset: int, as_json: bool) -> None:
    """Schedules by project and database."""
    with common.build_runtime().database.transaction() as session:
        rows = [
            schedule_json(row)
            for row in db_schedules.list_schedules(
                session, project_id=project_id, limit=limit, offset=offset
            )
        ]
    common.emit_rows("schedules", rows, SCHEDULE_COLUMNS, as_json)


@schedules.command("remove")
@click.argument("schedule_id", callback=ids.digits)
@click.option("--json", "as_json", is_flag=True)
@common.guard
def remove(schedule_id: str, as_json: bool) -> None:
    """Remove a schedule; its backups stay until they expire."""
    rt = common.build_runtime()
    found = ids.resolve(rt, ids.SCHEDULE, schedule_id)
    with rt.database.transaction() as session:
        if not db_schedules.delete_schedule(session, found):
            raise errors.NotFoundError(f"schedule {schedule_id} does not exist")
    if as_json:
        common.emit({"status": "ok", "removed": str(found)}, True)
    else:
        outcome.echo([outcome.line("removed", f"schedule {found}")])


def _toggle(schedule_id: str, enabled: bool, as_json: bool) -> None:
    rt = common.build_runtime()
    found = ids.resolve(rt, ids.SCHEDULE, schedule_id)
    with rt.database.transaction() as session:
        row = schedule_spec.set_enabled(session, found, enabled)
    _said({"status": "ok", "schedule": schedule_json(row)}, as_json)


@schedules.command("enable")
@click.argument("schedule_id", callback=ids.digits)
@click.option("--json", "as_json", is_flag=True)
@common.guard
def enable(schedule_id: str, as_json: bool) -> None:
    """Enable a schedule; it runs next at its next slot after now (no catch-up)."""
    _toggle(schedule_id, True, as_json)


@schedules.command("disable")
@click.argument("schedule_id", callback=ids.digits)
@click.option("--json", "as_json", is_flag=True)
@common.guard
def disable(schedule_id: str, as_json: bool) -> None:
    """Disable a schedule; nothing is dispatched for it until enabled."""
    _toggle(schedule_id, False, as_json)


@click.command("sweep")
@click.option("--dry-run", is_flag=True, help="list what the sweep would delete; delete nothing")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@common.guard
def sweep_command(dry_run: bool, as_json: bool) -> None:
    """Expire backups, apply GFS retention, delete expired messages, prune old schedule runs."""
    rt = common.build_runtime()
    try:
        if dry_run:
            found = rehearsal.plan(rt)
        else:
            result = sweep.sweep(rt)
    finally:
        rt.close()
    if dry_run:
        if as_json:
            common.emit({"status": "ok", **found.to_json()}, True)
        else:
            outcome.echo(sweeping.plan_lines(found))
    elif as_json:
        common.emit({"status": "ok", **result.to_json()}, True)
    else:
        outcome.echo(sweeping.result_lines(result))
