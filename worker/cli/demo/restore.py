"""The demo's restore: a backup restored through the worker into a new database (as
`backup-worker restore --target-database` does), then compared with its source."""

from __future__ import annotations

import time
import uuid

from rich.console import Console
from rich.table import Table

from worker.cli import follow
from worker.cli.commands import restore as restore_command
from worker.contract import tasks
from worker.jobs import runtime
from worker.restore import job as rj

JOB_TIMEOUT = 900  # seconds


def target_name(database: str) -> str:
    """A new database for the restore, inside the default RESTORE_TARGET_NAMES ({database}_*)."""
    return f"{database}_restored_{time.strftime('%Y%m%d%H%M%S')}"


def run(
    rt: runtime.Runtime, backup_id: str, target: str, console: Console
) -> dict[str, object] | None:
    """Restore the backup into `target` and follow it; the finished job's state (None: gone)."""
    req = rj.validate(rj.RESTORE, backup_id, target, False, None, tasks.MODE_NEW)
    job_id = restore_command.enqueue(rt, req, None)
    console.print(f"restore of backup {backup_id} into {target} enqueued as job {job_id}")
    return follow.wait(rt.database, uuid.UUID(str(job_id)), console=console, timeout=JOB_TIMEOUT)


def compare(console: Console, source_rows: dict[str, int], restored_rows: dict[str, int]) -> bool:
    """Print both databases' tables and rows side by side; True when they are the same."""
    table = Table("table", "rows in the source", "rows restored", "")
    for name in sorted(source_rows.keys() | restored_rows.keys()):
        before, after = source_rows.get(name), restored_rows.get(name)
        mark = "[green]same[/green]" if before == after else "[red]differs[/red]"
        table.add_row(name, _count(before), _count(after), mark)
    console.print(table)
    return source_rows == restored_rows


def _count(rows: int | None) -> str:
    return "-" if rows is None else f"{rows:,}"
