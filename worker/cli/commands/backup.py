"""`backup-worker backup`: enqueue a backup as the gateway does, and follow it.

With `--all`, one backup job per database of the server (worker.backup.whole).
"""

from __future__ import annotations

import sys
import time
import uuid

import click

from worker import errors, settings
from worker.backup import whole
from worker.cli import common, human, outcome
from worker.contract import publish, request
from worker.jobs import intake, runtime


@click.command()
@click.option("--project", "project_id", default=None, help="the platform's project id")
@click.option("--database", default=None, help="database to dump on the server")
@click.option("--server", default="default", show_default=True, help="source server's name")
@click.option("--all", "whole_server", is_flag=True, help="every database of the server")
@click.option("--exclude", multiple=True, help="with --all: skip databases matching (fnmatch)")
@click.option("--expires-in-days", type=int, default=None, help="default BACKUP_RETENTION_DAYS")
@click.option("--caption", default=None, help="extra text in every part's caption")
@click.option("--filename", default=None, help="base file name instead of the generated one")
@click.option("--wait", is_flag=True, help="follow the job with a progress bar until it ends")
@click.option("--timeout", type=float, default=None, help="with --wait: give up after seconds")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@common.guard
def backup(
    project_id: str | None,
    database: str | None,
    server: str,
    whole_server: bool,
    exclude: tuple[str, ...],
    expires_in_days: int | None,
    caption: str | None,
    filename: str | None,
    wait: bool,
    timeout: float | None,
    as_json: bool,
) -> None:
    """Enqueue a backup of one database (the same message the api-gateway sends)."""
    settings.current().require_encryption()
    if whole_server:
        if project_id is not None or database is not None or filename is not None:
            raise errors.InputError("--all takes no --project, --database or --filename")
        backup_all(server, exclude, expires_in_days, caption, wait, timeout, as_json)
        return
    if project_id is None or database is None:
        raise errors.InputError("give --project and --database, or --all for the whole server")
    if exclude:
        raise errors.InputError("--exclude goes with --all")
    req = request.validate(project_id, database, expires_in_days, caption, filename, server)
    job_id = enqueue(common.build_runtime(), req)
    common.follow(
        common.build_runtime(), job_id, wait=wait, timeout=timeout, as_json=as_json, key="backup"
    )


def backup_all(
    server: str,
    exclude: tuple[str, ...],
    expires_in_days: int | None,
    caption: str | None,
    wait: bool,
    timeout: float | None,
    as_json: bool,
) -> None:
    """One job per database of `server`; with --wait, follow them all to their end."""
    from worker.app import app

    rt = common.build_runtime()
    request.validate_expiry(expires_in_days)
    items = whole.enqueue_server(
        rt,
        server,
        publish.Publisher(app.send_task),
        exclude=exclude,
        expires_in_days=expires_in_days,
        caption=caption,
    )
    jobs = [item.to_json() for item in items]
    status = "pending"
    if wait:
        # Here, not at the top: the progress view brings rich, which an enqueue never needs.
        from worker.cli import follow as watch

        deadline = None if timeout is None else time.monotonic() + timeout
        for job in jobs:
            if job["job_id"] is None:
                continue
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            jid = uuid.UUID(str(job["job_id"]))
            state = watch.wait(rt.database, jid, console=common.err, timeout=left, show_bar=False)
            job.update(common.summary(jid, state or {"status": "missing"} | _BLANK, "backup"))
        finals = {job["status"] for job in jobs if job["job_id"] is not None}
        status = "completed" if finals <= {"completed"} else "failed"
        if not finals <= watch.FINISHED:
            status = "timeout"
    if as_json:
        common.emit({"server": server, "status": status, "jobs": jobs}, True)
    else:
        common.emit_rows("jobs", jobs, _ALL_COLUMNS, False)
        outcome.echo([outcome.line("server", f"{server}: {status}")])
    if status == "failed":
        sys.exit(common.EXIT_FAILED)
    if status == "timeout":
        sys.exit(common.EXIT_TIMEOUT)


_BLANK: dict[str, object] = {"stage": None, "progress": 0, "error": None}


def _size(job: common.Row) -> str:
    made = job.get("backup")
    return human.size(made.get("size_bytes")) if isinstance(made, dict) else ""


_ALL_COLUMNS: list[common.Column] = [
    ("database", lambda job: str(job.get("database") or "")),
    ("job", lambda job: outcome.short(job["job_id"]) if job.get("job_id") else ""),
    ("status", lambda job: str(job.get("status") or "")),
    ("size", _size),
    ("error", lambda job: str(job.get("error") or job.get("reason") or "")[:60]),
]


def enqueue(rt: runtime.Runtime, req: request.BackupRequest) -> uuid.UUID:
    """Insert the pending job and send backups.create, as the gateway does."""
    from worker.app import app

    return intake.enqueue(rt, req, publish.Publisher(app.send_task))
