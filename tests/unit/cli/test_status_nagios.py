"""`backup-worker status --nagios`: the monitoring status and plugin line of a report."""

from __future__ import annotations

from worker.cli import common
from worker.cli.commands import status


def report(*states: str, unreadable: tuple[str, ...] = ()) -> common.Row:
    projects = [
        {"project_id": f"p{i}", "database": "db", "state": state} for i, state in enumerate(states)
    ]
    return {"projects": projects, "queues": {"celery": 3}, "unreadable": list(unreadable)}


def test_ok_warning_critical_unknown() -> None:
    assert status.monitoring(report("ok", "unscheduled")) == (
        0,
        "BACKUP-WORKER OK - 2 projects | failing=0 overdue=0 ok=1 unscheduled=1 queued=3",
    )
    code, line = status.monitoring(report("ok", "overdue"))
    assert code == status.NAGIOS_WARNING
    assert line.startswith("BACKUP-WORKER WARNING - 1 overdue (p1/db); 2 projects |")
    code, line = status.monitoring(report("overdue", "failing"))
    assert code == status.NAGIOS_CRITICAL
    assert line.startswith("BACKUP-WORKER CRITICAL - 1 failing (p1/db); 1 overdue (p0/db);")
    code, line = status.monitoring(report(unreadable=("database",)))
    assert (code, line) == (3, "BACKUP-WORKER UNKNOWN - cannot read the control plane")


def test_redis_unreadable_is_a_warning_and_long_lists_are_cut() -> None:
    code, line = status.monitoring(report("ok", unreadable=("redis",)))
    assert code == status.NAGIOS_WARNING
    assert "cannot read redis" in line
    code, line = status.monitoring(report(*["failing"] * 7))
    assert code == status.NAGIOS_CRITICAL
    assert "7 failing (p0/db, p1/db, p2/db, p3/db, p4/db, ...)" in line
