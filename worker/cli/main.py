"""The `backup-worker` command: enqueue and follow backups, read jobs and backups, migrate.

Every command that changes something takes --json and then prints exactly one JSON object on
stdout; the exit status is 0 only on success.
"""

from __future__ import annotations

import sys

import click

from db import migrate as db_migrate
from worker import settings
from worker.cli import backup as backup_command
from worker.cli import catalog as catalog_commands
from worker.cli import common, reading, status
from worker.cli import exporter as exporter_command
from worker.cli import flower as flower_command
from worker.cli import restore as restore_commands
from worker.cli import schedules as schedule_commands
from worker.cli import send as send_commands


@click.group()
def main() -> None:
    """backup-worker: PostgreSQL backups into Telegram, run by Celery workers."""


@main.command()
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@common.guard
def migrate(as_json: bool) -> None:
    """Apply the database migrations (schema control_plane)."""
    url = settings.current().database_url
    db_migrate.upgrade(url)
    common.emit({"status": "ok", "revision": db_migrate.current(url)}, as_json)


@main.command()
@click.option("--database", default=None, help="database to back up; default: a sample one")
@click.option("--project", "project_id", default="demo-project")
@common.guard
def demo(database: str | None, project_id: str) -> None:
    """One real backup end to end: migrate, start a worker, back up, show the result."""
    from worker.cli import demo as demo_run

    sys.exit(demo_run.run(database=database, project_id=project_id, console=common.err))


main.add_command(backup_command.backup)
main.add_command(reading.jobs)
main.add_command(reading.backups)
main.add_command(send_commands.send_command)
main.add_command(send_commands.register_command)
main.add_command(send_commands.batch_command)
main.add_command(restore_commands.restore)
main.add_command(restore_commands.verify)
main.add_command(flower_command.flower)
main.add_command(schedule_commands.schedules)
main.add_command(schedule_commands.sweep_command)
main.add_command(exporter_command.exporter)
main.add_command(status.status)
main.add_command(catalog_commands.catalog)
