"""`backup-worker backup`: enqueue a backup as the gateway does, and follow it."""

from __future__ import annotations

import uuid

import click

from worker.cli import common
from worker.contract import publish, request
from worker.jobs import intake, runtime


@click.command()
@click.option("--project", "project_id", required=True, help="the platform's project id")
@click.option("--database", required=True, help="database to dump on SOURCE_DATABASE_URL")
@click.option("--expires-in-days", type=int, default=None, help="default BACKUP_RETENTION_DAYS")
@click.option("--caption", default=None, help="extra text in every part's caption")
@click.option("--filename", default=None, help="base file name instead of the generated one")
@click.option("--wait", is_flag=True, help="follow the job with a progress bar until it ends")
@click.option("--timeout", type=float, default=None, help="with --wait: give up after seconds")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@common.guard
def backup(
    project_id: str,
    database: str,
    expires_in_days: int | None,
    caption: str | None,
    filename: str | None,
    wait: bool,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Enqueue a backup of one database (the same message the api-gateway sends)."""
    req = request.validate(project_id, database, expires_in_days, caption, filename)
    job_id = enqueue(common.build_runtime(), req)
    common.follow(
        common.build_runtime(), job_id, wait=wait, timeout=timeout, as_json=as_json, key="backup"
    )


def enqueue(rt: runtime.Runtime, req: request.BackupRequest) -> uuid.UUID:
    """Insert the pending job and send backups.create, as the gateway does."""
    from worker.app import app

    return intake.enqueue(rt, req, publish.Publisher(app.send_task))
