"""`backup-worker restore` and `backup-worker verify`: enqueue as the gateway does, and follow.

Both go through the worker (backups.restore / backups.verify), never in this process: the age
private key, the spool space and the Telegram token live on the worker hosts, and the jobs row
shows the gateway the same progress whoever started the job.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import click

from worker.cli import common, ids
from worker.contract import publish, tasks
from worker.jobs import intake, runtime
from worker.restore import job as rj
from worker.restore import undo

_POINT_OPTIONS = ("--to-time", "--to-lsn", "--to-latest")


class _RestoreGroup(click.Group):
    """`restore BACKUP_ID …` as before, and `restore undo JOB` beside it."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            pointed = any(arg.split("=", 1)[0] in _POINT_OPTIONS for arg in args)
            args = ["point" if pointed else "backup", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_RestoreGroup)
def restore() -> None:
    """Restore a backup or a point in time (`--to-time`, `restore server`), or undo a replace."""


@restore.command("backup")
@click.argument("backup_id", callback=ids.digits)
@click.option(
    "--target-database",
    default=None,
    help="database to restore into (new or empty; with "
    "--replace, the one to replace: the backup's own database by default)",
)
@click.option("--clean", is_flag=True, help="restore into staging, swap it in, keep the old one")
@click.option(
    "--replace", is_flag=True, help="replace the database in place, keeping an undo point"
)
@click.option(
    "--target-server",
    "--server",
    "target_server",
    default=None,
    help="source server to restore onto (default: the backup's own)",
)
@click.option(
    "--project",
    "project_id",
    default=None,
    help="the project asking (default: the backup's own); the worker refuses another's backup",
)
@click.option("--wait", is_flag=True, help="follow the job with a progress bar until it ends")
@click.option("--timeout", type=float, default=None, help="with --wait: give up after seconds")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@common.guard
def restore_backup(
    backup_id: str,
    target_database: str | None,
    clean: bool,
    replace: bool,
    target_server: str | None,
    project_id: str | None,
    wait: bool,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Restore a backup into a database on its own server, or on --target-server."""
    if target_database is None and not replace:
        raise click.UsageError("--target-database is required (or --replace)")
    mode = tasks.MODE_REPLACE if replace else tasks.MODE_NEW
    rt = common.build_runtime()
    found = str(ids.resolve(rt, ids.BACKUP, backup_id))
    req = rj.validate(rj.RESTORE, found, target_database, clean, target_server, mode)
    job_id = enqueue(rt, req, project_id)
    common.follow(rt, job_id, wait=wait, timeout=timeout, as_json=as_json, key="restore")


@restore.command("point")
@click.option("--project", "project_id", required=True, help="the project whose database")
@click.option("--to-time", default=None, help="a time with its zone: '2026-12-05 14:03:07+00'")
@click.option("--to-lsn", default=None, help="a WAL position: 0/16B3748")
@click.option("--to-latest", is_flag=True, help="the latest recoverable point")
@click.option("--target-database", default=None, help="the new database to restore into")
@click.option(
    "--replace", is_flag=True, help="replace the project's database in place, keeping an undo point"
)
@click.option("--run-as", default=None, help="OS user the scratch PostgreSQL runs as (when root)")
@click.option("--wait", is_flag=True, help="follow the restore job until it ends")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@common.guard
def restore_point(
    project_id: str,
    to_time: str | None,
    to_lsn: str | None,
    to_latest: bool,
    target_database: str | None,
    replace: bool,
    run_as: str | None,
    wait: bool,
    as_json: bool,
) -> None:
    """Bring the project's database back to a time (docs/pitr.md): new, or replaced with undo."""
    from db.queries import wal as db_wal
    from worker.restore import scope
    from worker.wal import handoff, point

    if (target_database is None) != replace:
        raise click.UsageError("give --target-database NEW, or --replace")
    target = point.parse_target(to_time, to_lsn, to_latest)
    rt = common.build_runtime()
    with rt.database.transaction() as session:
        found = db_wal.project_backup(session, project_id)
        if found is None:
            raise click.UsageError(
                f"project {project_id} has no database backup naming its database"
            )
        server, database = found.server, str(found.database)
        allowed = target_database is None or scope.name_allowed(
            rt.settings.restore_target_names, target_database, found
        )
    if not allowed:
        raise click.UsageError(
            f"--target-database {target_database} is not a name RESTORE_TARGET_NAMES lets "
            f"project {project_id} create (patterns: {rt.settings.restore_target_names})"
        )
    # Both ways go through the restore job, never a pg_restore here: the recovered database
    # holds the project's code, which must run with its owner's rights only (docs/security.md).
    _outcome, archive = point.recovered_dump(rt, server, database, target, run_as)
    try:
        backup_id = handoff.record_as_backup(
            rt,
            archive,
            project_id=project_id,
            database=database,
            server=server,
            target=target.describe(),
        )
    finally:
        point.discard(archive.parent)
    mode, into = (
        (tasks.MODE_NEW, target_database) if target_database else (tasks.MODE_REPLACE, database)
    )
    req = rj.validate(rj.RESTORE, str(backup_id), into, False, server, mode)
    job_id = enqueue(rt, req, project_id)
    common.follow(rt, job_id, wait=wait, timeout=None, as_json=as_json, key="restore")


@restore.command("server")
@click.option("--server", required=True, help="the source server whose WAL is streamed")
@click.option("--to-time", default=None, help="a time with its zone: '2026-12-05 14:03:07+00'")
@click.option("--to-lsn", default=None, help="a WAL position: 0/16B3748")
@click.option("--to-latest", is_flag=True, help="the latest recoverable point")
@click.option(
    "--into",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="a new directory; the recovered data directory is INTO/data",
)
@click.option("--run-as", default=None, help="OS user the recovered PostgreSQL runs as (when root)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@common.guard
def restore_server(
    server: str,
    to_time: str | None,
    to_lsn: str | None,
    to_latest: bool,
    into: Path,
    run_as: str | None,
    as_json: bool,
) -> None:
    """Bring a whole server back to a time in a new data directory (disaster recovery)."""
    from worker.wal import point

    target = point.parse_target(to_time, to_lsn, to_latest)
    rt = common.build_runtime()
    outcome, data = point.recovered_server(rt, server, target, into.absolute(), run_as)
    common.emit(
        {
            "server": server,
            "target": target.describe(),
            "data_directory": str(data),
            "base_backup": outcome.base_backup,
            "bundles": outcome.bundles,
            # What is left for the operator: the recovery's isolation is still in its config.
            "next": "set your own port, listen_addresses and pg_hba in postgresql.auto.conf "
            "(the recovery's: no TCP, its socket and pg_hba beside data/), then start it",
        },
        as_json,
    )


@restore.command("undo")
@click.argument("job_id", callback=ids.digits)
@click.option(
    "--project",
    "project_id",
    default=None,
    help="the project asking (default: the replace's own); the worker refuses another's job",
)
@click.option("--wait/--no-wait", default=True, help="follow the undo until it ends (default)")
@click.option("--timeout", type=float, default=None, help="give up waiting after seconds")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@common.guard
def restore_undo(
    job_id: str, project_id: str | None, wait: bool, timeout: float | None, as_json: bool
) -> None:
    """Put back the database a replace (job JOB_ID) kept as its undo point."""
    from worker.app import app

    rt = common.build_runtime()
    job, names = undo.undo_target(rt, str(ids.resolve(rt, ids.JOB, job_id)), project_id)
    payload = {"undo_of": str(job.id), "target_database": names.project}
    undo_id = intake.insert_pending(
        rt, job_type=rj.RESTORE, project_id=job.project_id, payload=payload
    )
    message = tasks.UndoRestore(job.project_id, job.id, undo_id)
    intake.send_pending(rt, undo_id, publish.Publisher(app.send_task), message)
    common.follow(rt, undo_id, wait=wait, timeout=timeout, as_json=as_json, key="undo")


@click.command()
@click.argument("backup_id", callback=ids.digits)
@click.option(
    "--wait/--no-wait", default=True, help="follow the job until it ends (default) or only enqueue"
)
@click.option("--timeout", type=float, default=None, help="give up waiting after seconds")
@click.option("--server", default=None, help="read the archive with the pg_restore for this server")
@click.option(
    "--project",
    "project_id",
    default=None,
    help="the project asking (default: the backup's own); the worker refuses another's backup",
)
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@common.guard
def verify(
    backup_id: str,
    wait: bool,
    timeout: float | None,
    server: str | None,
    project_id: str | None,
    as_json: bool,
) -> None:
    """Download a backup, check every checksum and read its archive, without restoring it."""
    rt = common.build_runtime()
    req = rj.validate(rj.VERIFY, str(ids.resolve(rt, ids.BACKUP, backup_id)), server=server)
    job_id = enqueue(rt, req, project_id)
    common.follow(rt, job_id, wait=wait, timeout=timeout, as_json=as_json, key="verification")


def enqueue(rt: runtime.Runtime, req: rj.RestoreRequest, project_id: str | None) -> uuid.UUID:
    """Check the request, insert the pending job (as the gateway does), send the task.

    `project_id` None: the backup's own project (an operator acts for any project).
    """
    from worker.app import app

    backup = rj.load_backup(rt, req.backup_id)
    project = backup.project_id if project_id is None else project_id
    rj.check_project(backup, project)
    if req.kind == rj.RESTORE:
        rj.check_target(rt, req, backup)
    job_id = intake.insert_pending(
        rt, job_type=req.kind, project_id=project, payload=dict(req.payload(backup))
    )
    message: tasks.RestoreBackup | tasks.VerifyBackup
    if req.kind == rj.RESTORE:
        message = tasks.RestoreBackup(
            project, req.backup_id, req.target_database, job_id, req.clean, req.server, req.mode
        )
    else:
        message = tasks.VerifyBackup(project, req.backup_id, job_id, req.server)
    intake.send_pending(rt, job_id, publish.Publisher(app.send_task), message)
    return job_id
