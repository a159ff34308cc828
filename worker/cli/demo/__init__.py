"""`backup-worker demo`: one real backup and its restore, end to end, on this machine.

Creates an age key under .demo/ (once), migrates the control-plane database, starts a Celery
worker process, creates a sample database when none is named, backs it up encrypted to the chat
in TELEGRAM_* or, without a bot token, to the local Bot API stand-in (standin/, its files kept
under .demo/standin), restores the backup through the worker into a new database and shows that
both hold the same tables and rows. `--restore BACKUP_ID` restores an earlier demo backup again.

Modules: processes (the worker, the stand-in), key (the age key), sample (the sample database,
row counts), restore (the restore and the comparison).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from db import migrate
from worker import errors, settings
from worker.cli import common, follow, ids
from worker.cli.commands import backup as backup_command
from worker.cli.demo import key, processes, restore, sample
from worker.contract import request
from worker.jobs import runtime
from worker.postgres import source


def run(*, database: str | None, project_id: str, again: str | None, console: Console) -> int:
    """Run the demo (`again`: only restore that backup); returns the exit status."""
    key_file = key.ensure(processes.DEMO_DIR, console)
    settings.current.cache_clear()
    with processes.standin_if_needed(settings.current(), console):
        settings.current.cache_clear()
        config = settings.current()
        migrate.upgrade(config.database_url)
        params = source.SourceParams.from_url(config.source_database_url.get_secret_value())
        rt = common.build_runtime()
        found = None if again is None else str(ids.resolve(rt, ids.BACKUP, again))
        with processes.worker(console):
            if found is not None:
                return _restore(rt, params, found, None, console, key_file)
            name = database or sample.ensure(params, console)
            backup_id = _backup(rt, project_id, name, console)
            if backup_id is None:
                return common.EXIT_FAILED
            return _restore(rt, params, backup_id, name, console, key_file)


def _backup(rt: runtime.Runtime, project_id: str, name: str, console: Console) -> str | None:
    req = request.validate(project_id, name)
    job_id = backup_command.enqueue(rt, req)
    console.print(f"backup of {name} enqueued as job {job_id}")
    state = follow.wait(rt.database, job_id, console=console, timeout=restore.JOB_TIMEOUT)
    if state is None or state["status"] != "completed":
        error = "the job is gone" if state is None else f"{state['status']}: {state['error']}"
        console.print(f"[red]backup {error}[/red]")
        return None
    result = state["result"]
    made = result.get("backup") if isinstance(result, dict) else None
    if not isinstance(made, dict):
        console.print("[red]the backup job recorded no backup[/red]")
        return None
    console.print(
        f"[green]backup completed[/green]: {made['id']}, {made['part_count']} part(s), "
        f"{made['size_bytes']:,} bytes, encrypted: {'yes' if made['encrypted'] else 'no'}"
    )
    return str(made["id"])


def _restore(
    rt: runtime.Runtime,
    params: source.SourceParams,
    backup_id: str,
    name: str | None,
    console: Console,
    key_file: Path,
) -> int:
    """Restore into a new database, compare it with the source `name` (its backup's own
    database when None), and say how to do it again."""
    database = name or _database_of(rt, backup_id)
    target = restore.target_name(database)
    state = restore.run(rt, backup_id, target, console)
    if state is None or state["status"] != "completed":
        error = "the job is gone" if state is None else f"{state['status']}: {state['error']}"
        console.print(f"[red]restore {error}[/red]")
        return common.EXIT_FAILED
    same = restore.compare(
        console, sample.row_counts(params, database), sample.row_counts(params, target)
    )
    if name is not None and not same:
        console.print(f"[red]{target} does not hold what {database} holds[/red]")
        return common.EXIT_FAILED
    console.print(
        f"[green]restore completed[/green]: backup {backup_id} is in the new database {target}"
        + ("" if same else f" ({database} changed since the backup)")
    )
    console.print(
        f'restore it again: make demo ARGS="--restore {backup_id}" (the key: {key_file}); '
        f"by hand, without the worker: docs/restore.md, decrypting with `age -d -i {key_file}`; "
        "drop the restored copies with dropdb when done"
    )
    return 0


def _database_of(rt: runtime.Runtime, backup_id: str) -> str:
    from worker.restore import job as rj

    found = rj.load_backup(rt, rj.validate(rj.VERIFY, backup_id).backup_id).database
    if found is None:
        raise errors.InputError(f"backup {backup_id} is of no one database: give another")
    return found


@click.command()
@click.option("--database", default=None, help="database to back up; default: a sample one")
@click.option("--project", "project_id", default="demo-project")
@click.option(
    "--restore",
    "again",
    default=None,
    callback=ids.digits,
    metavar="BACKUP_ID",
    help="only restore this earlier demo backup into a new database",
)
@common.guard
def demo(database: str | None, project_id: str, again: str | None) -> None:
    """Back up a database encrypted, restore it into a new one, show that both match."""
    sys.exit(run(database=database, project_id=project_id, again=again, console=common.err))
