"""`backup-worker restore` and `backup-worker verify`: enqueue as the gateway does, and follow.

Both go through the worker (backups.restore / backups.verify), never in this process: the age
private key, the spool space and the Telegram token live on the worker hosts, and the jobs row
shows the gateway the same progress whoever started the job.
"""

from __future__ import annotations

import uuid

import click

from worker.cli import common
from worker.contract import publish, tasks
from worker.jobs import intake, runtime
from worker.restore import job as rj


@click.command()
@click.argument("backup_id", type=click.UUID)
@click.option("--target-database", required=True, help="database to restore into (new or empty)")
@click.option("--clean", is_flag=True, help="drop and re-create the backup's objects in a target")
@click.option(
    "--target-server",
    "--server",
    "target_server",
    default=None,
    help="source server to restore onto (default: the backup's own)",
)
@click.option("--wait", is_flag=True, help="follow the job with a progress bar until it ends")
@click.option("--timeout", type=float, default=None, help="with --wait: give up after seconds")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@common.guard
def restore(
    backup_id: uuid.UUID,
    target_database: str,
    clean: bool,
    target_server: str | None,
    wait: bool,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Restore a backup into a database on its own server, or on --target-server."""
    req = rj.validate(rj.RESTORE, str(backup_id), target_database, clean, target_server)
    rt = common.build_runtime()
    job_id = enqueue(rt, req)
    common.follow(rt, job_id, wait=wait, timeout=timeout, as_json=as_json, key="restore")


@click.command()
@click.argument("backup_id", type=click.UUID)
@click.option(
    "--wait/--no-wait", default=True, help="follow the job until it ends (default) or only enqueue"
)
@click.option("--timeout", type=float, default=None, help="give up waiting after seconds")
@click.option("--server", default=None, help="read the archive with the pg_restore for this server")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@common.guard
def verify(
    backup_id: uuid.UUID, wait: bool, timeout: float | None, server: str | None, as_json: bool
) -> None:
    """Download a backup, check every checksum and read its archive, without restoring it."""
    req = rj.validate(rj.VERIFY, str(backup_id), server=server)
    rt = common.build_runtime()
    job_id = enqueue(rt, req)
    common.follow(rt, job_id, wait=wait, timeout=timeout, as_json=as_json, key="verification")


def enqueue(rt: runtime.Runtime, req: rj.RestoreRequest) -> uuid.UUID:
    """Check the request, insert the pending job (as the gateway does), send the task."""
    from worker.app import app

    backup = rj.load_backup(rt, req.backup_id)
    if req.kind == rj.RESTORE:
        rj.check_target(rt, req, backup)
    job_id = intake.insert_pending(
        rt, job_type=req.kind, project_id=backup.project_id, payload=dict(req.payload(backup))
    )
    message: tasks.RestoreBackup | tasks.VerifyBackup
    if req.kind == rj.RESTORE:
        assert req.target_database is not None  # validate() names it for a restore
        message = tasks.RestoreBackup(
            req.backup_id, req.target_database, job_id, req.clean, req.server
        )
    else:
        message = tasks.VerifyBackup(req.backup_id, job_id, req.server)
    publish.Publisher(app.send_task).send(message)
    return job_id
