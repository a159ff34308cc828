"""`backup-worker status`: one screen of every project's backup health, the fleet's queues, and
each WAL server's recoverable window (point-in-time recovery).

Projects that fail (their latest backup job failed) come first, then overdue ones (no backup
for twice their schedule's period, as the alert check counts), then the rest, most lagging
first. `--json` prints one object with stable keys, for scripts. `--nagios` prints one plugin line
and exits with a monitoring status (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN); without it the
exit status stays 0 whatever the projects' states.
"""

from __future__ import annotations

import datetime as dt
import sys

import click
from rich.table import Table

from db import wal_coverage
from db.queries import health
from worker import errors, settings
from worker.cli import common, human
from worker.metrics import exporter, snapshot

FAILING = "failing"
OVERDUE = "overdue"
OK = "ok"
UNSCHEDULED = "unscheduled"  # no enabled schedule: nothing to be late against
_ORDER = {FAILING: 0, OVERDUE: 1, OK: 2, UNSCHEDULED: 3}
_COLOURS = {FAILING: "red", OVERDUE: "yellow", OK: "green", UNSCHEDULED: "dim"}
# The monitoring plugin's exit statuses (Nagios, Icinga, Sensu, Zabbix's agent checks).
NAGIOS_OK, NAGIOS_WARNING, NAGIOS_CRITICAL, NAGIOS_UNKNOWN = 0, 1, 2, 3
_NAGIOS_WORDS = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}
_SHOWN_PROJECTS = 5  # projects named in the plugin line; the counts cover all


def state(project: health.ProjectHealth, now: dt.datetime) -> str:
    """failing, overdue, ok or unscheduled."""
    if project.failing:
        return FAILING
    if project.overdue(now):
        return OVERDUE
    return OK if project.period_seconds is not None else UNSCHEDULED


def _stamp(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def project_row(project: health.ProjectHealth, now: dt.datetime) -> common.Row:
    """The JSON of one project: these keys are stable."""
    age = None if project.last_backup_at is None else (now - project.last_backup_at)
    return {
        "project_id": project.project_id,
        "database": project.database,
        "state": state(project, now),
        "last_backup_at": _stamp(project.last_backup_at),
        "age_seconds": None if age is None else int(age.total_seconds()),
        "size_bytes": project.last_backup_bytes,
        "period_seconds": project.period_seconds,
        "lag_seconds": None if project.period_seconds is None else project.lag_seconds(now),
        "next_run_at": _stamp(project.next_run_at),
        "last_job_status": project.last_job_status,
        "last_error": project.last_error,
        "drilled_at": _stamp(project.drilled_at),
        "drill_status": project.drill_status,
    }


def wal_row(server: wal_coverage.Coverage, now: dt.datetime) -> common.Row:
    """The JSON of one WAL server's recoverable window: these keys are stable."""
    lag = server.lag_seconds(now)
    return {
        "server": server.server,
        "from": _stamp(server.start),
        "to": _stamp(server.until),
        "lag_seconds": None if lag is None else int(lag),
        "gaps": len(server.holes),
    }


def report(found: snapshot.Snapshot) -> common.Row:
    """The whole status as one JSON object."""
    rows = [project_row(project, found.now) for project in found.projects]
    rows.sort(key=_rank)
    return {
        "now": found.now.isoformat(),
        "projects": rows,
        "queues": dict(found.queues),
        "wal": [wal_row(server, found.now) for server in found.wal],
        "unreadable": list(found.failed),
    }


def _rank(row: common.Row) -> tuple[int, float, str, str]:
    lag = float(str(row["lag_seconds"] or 0))
    return _ORDER[str(row["state"])], -lag, str(row["project_id"]), str(row["database"])


def render(payload: common.Row) -> None:
    """The rich tables: projects, queues, then each WAL server's recoverable window."""
    projects = payload["projects"]
    assert isinstance(projects, list)
    table = Table(
        "state", "project", "database", "last backup (UTC)", "size", "age", "every", "late", "drill"
    )
    for row in projects:
        colour = _COLOURS[row["state"]]
        table.add_row(
            f"[{colour}]{row['state']}[/{colour}]",
            row["project_id"],
            row["database"],
            human.timestamp(row["last_backup_at"]) or "never",
            human.size(row["size_bytes"]),
            human.duration(row["age_seconds"]),
            human.duration(row["period_seconds"]),
            human.duration(row["lag_seconds"]) if row["lag_seconds"] else "",
            row["drill_status"] or "",
        )
    common.out.print(table)
    queues = payload["queues"]
    assert isinstance(queues, dict)
    queue_table = Table("queue", "waiting")
    for name, depth in queues.items():
        queue_table.add_row(name, str(depth))
    common.out.print(queue_table)
    servers = payload["wal"]
    assert isinstance(servers, list)
    if servers:
        wal_table = Table("WAL server", "recoverable from (UTC)", "to", "lag", "gaps")
        for row in servers:
            gaps = f"[red]{row['gaps']}[/red]" if row["gaps"] else "0"
            wal_table.add_row(
                row["server"],
                human.timestamp(row["from"]) or "nothing yet",
                human.timestamp(row["to"]) or "",
                human.duration(row["lag_seconds"]),
                gaps,
            )
        common.out.print(wal_table)
    for source in payload["unreadable"]:  # type: ignore[attr-defined]
        common.err.print(f"[red]could not read {source}[/red]", highlight=False)


def monitoring(payload: common.Row) -> tuple[int, str]:
    """The monitoring status and plugin line of a report: CRITICAL when a project fails,
    WARNING when one is overdue or Redis (the queues) could not be read, UNKNOWN when the
    control plane could not be read; perfdata counts each state and the waiting messages."""
    projects = payload["projects"]
    assert isinstance(projects, list)
    counts = {name: 0 for name in _ORDER}
    for row in projects:
        counts[str(row["state"])] += 1
    unreadable = list(payload["unreadable"])  # type: ignore[call-overload]
    queues = payload["queues"]
    assert isinstance(queues, dict)
    perf = " ".join(f"{name}={count}" for name, count in counts.items())
    perf += f" queued={sum(int(depth) for depth in queues.values())}"
    if "database" in unreadable:
        return NAGIOS_UNKNOWN, _plugin_line(NAGIOS_UNKNOWN, "cannot read the control plane", "")
    code, said = NAGIOS_OK, [f"{len(projects)} projects"]
    for state, level in ((FAILING, NAGIOS_CRITICAL), (OVERDUE, NAGIOS_WARNING)):
        named = [f"{r['project_id']}/{r['database']}" for r in projects if r["state"] == state]
        if named:
            code = max(code, level)
            more = ", ..." if len(named) > _SHOWN_PROJECTS else ""
            shown = ", ".join(named[:_SHOWN_PROJECTS]) + more
            said.insert(len(said) - 1, f"{len(named)} {state} ({shown})")
    if unreadable:
        code = max(code, NAGIOS_WARNING)
        said.append("cannot read " + ", ".join(map(str, unreadable)))
    return code, _plugin_line(code, "; ".join(said), perf)


def _plugin_line(code: int, text: str, perf: str) -> str:
    return f"BACKUP-WORKER {_NAGIOS_WORDS[code]} - {text}" + (f" | {perf}" if perf else "")


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@click.option(
    "--nagios",
    is_flag=True,
    help="print one monitoring-plugin line; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
)
def status(as_json: bool, nagios: bool) -> None:
    """Each project's last backup against its schedule (failing and overdue first), and queues."""
    if not nagios:
        common.guard(_status)(as_json=as_json, nagios=False)
        return
    try:
        _status(as_json=as_json, nagios=True)
    except errors.BackupWorkerError as exc:  # bad settings: not a state of the backups
        click.echo(_plugin_line(NAGIOS_UNKNOWN, exc.message, ""))
        sys.exit(NAGIOS_UNKNOWN)


def _status(as_json: bool, nagios: bool) -> None:
    config = settings.current()
    rt = common.build_runtime()
    client = exporter.redis_client(config.celery_broker_url, config.redis_sentinel_master)
    try:
        payload = report(snapshot.read(rt.database, client))
    finally:
        rt.close()
        if client is not None:
            client.close()
    if as_json:
        common.emit(payload, True)
    elif not nagios:
        render(payload)
    if nagios:
        code, plugin = monitoring(payload)
        if not as_json:
            click.echo(plugin)
        sys.exit(code)
