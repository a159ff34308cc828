"""The `backup-worker` command: enqueue and follow backups, read jobs and backups, migrate.

Every command that changes something takes --json and then prints exactly one JSON object on
stdout; the exit status is 0 only on success.
"""

from __future__ import annotations

import functools
import json
import sys
import uuid
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click
from rich.console import Console
from rich.table import Table

from db import backups as db_backups
from db import jobs as db_jobs
from db import migrate as db_migrate
from db import models
from worker import errors, intake, request, runtime, settings, watch

P = ParamSpec("P")
R = TypeVar("R")
EXIT_FAILED = 1  # the job ended failed or cancelled
EXIT_ERROR = 2  # bad input or configuration: nothing was started
EXIT_TIMEOUT = 3  # --wait gave up before the job ended

out = Console(soft_wrap=True)
err = Console(stderr=True)


def _emit(payload: object, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(payload, default=str, sort_keys=True))
    else:
        out.print_json(data=payload, default=str)


def _guard(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the project's errors into a clear message and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except errors.BackupWorkerError as exc:
            if kwargs.get("as_json"):
                click.echo(json.dumps({"error": exc.message, "status": "error"}))
            else:
                err.print(f"[red]error:[/red] {exc.message}", highlight=False)
            sys.exit(EXIT_ERROR)

    return wrapper


def _runtime() -> runtime.Runtime:
    return runtime.build(settings.current())


@click.group()
def main() -> None:
    """backup-worker: PostgreSQL backups into Telegram, run by Celery workers."""


@main.command()
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@_guard
def migrate(as_json: bool) -> None:
    """Apply the database migrations (schema control_plane)."""
    url = settings.current().database_url
    db_migrate.upgrade(url)
    _emit({"status": "ok", "revision": db_migrate.current(url)}, as_json)


@main.command()
@click.option("--project", "project_id", required=True, help="the platform's project id")
@click.option("--database", required=True, help="database to dump on SOURCE_DATABASE_URL")
@click.option("--expires-in-days", type=int, default=None, help="default BACKUP_RETENTION_DAYS")
@click.option("--caption", default=None, help="extra text in every part's caption")
@click.option("--filename", default=None, help="base file name instead of the generated one")
@click.option("--wait", is_flag=True, help="follow the job with a progress bar until it ends")
@click.option("--timeout", type=float, default=None, help="with --wait: give up after seconds")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@_guard
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
    job_id = enqueue(_runtime(), req)
    follow(job_id, wait=wait, timeout=timeout, as_json=as_json)


def enqueue(rt: runtime.Runtime, req: request.BackupRequest) -> uuid.UUID:
    """Insert the pending job, as the gateway does, then send backups.create."""
    from worker.app import app

    job_id = uuid.uuid4()
    with rt.database.transaction() as session:
        db_jobs.create_job(
            session,
            job_id=job_id,
            type=intake.JOB_TYPE,
            project_id=req.project_id,
            payload=dict(req.payload(rt.chat_id(), rt.settings.telegram_thread_id)),
            celery_task_id=None,
        )
    kwargs: dict[str, object] = {
        "project_id": req.project_id,
        "database": req.database,
        "job_id": str(job_id),
        "expires_in_days": req.expires_in_days,
        "caption": req.caption,
    }
    if req.filename is not None:
        kwargs["filename"] = req.filename
    app.send_task("backups.create", kwargs=kwargs)
    return job_id


def follow(job_id: uuid.UUID, *, wait: bool, timeout: float | None, as_json: bool) -> None:
    """Print the job (after following it with --wait) and exit with its outcome."""
    rt = _runtime()
    if not wait:
        _emit({"job_id": str(job_id), "status": "pending"}, as_json)
        return
    if not as_json:
        err.print(f"job {job_id}", highlight=False)
    state = watch.wait(rt.database, job_id, console=err, timeout=timeout)
    if state is None:
        raise errors.NotFoundError(f"job {job_id} disappeared")
    result = state.get("result") or {}
    summary: dict[str, object] = {
        "job_id": str(job_id),
        "status": state["status"],
        "stage": state["stage"],
        "progress": state["progress"],
        "error": state["error"],
    }
    if isinstance(result, dict) and "backup" in result:
        summary["backup"] = result["backup"]
    _emit(summary, as_json)
    if state["status"] == "completed":
        return
    sys.exit(EXIT_FAILED if state["status"] in watch.FINISHED else EXIT_TIMEOUT)


@main.group()
def jobs() -> None:
    """Read the jobs table."""


@jobs.command("show")
@click.argument("job_id", type=click.UUID)
@click.option("--json", "as_json", is_flag=True)
@_guard
def jobs_show(job_id: uuid.UUID, as_json: bool) -> None:
    """One job, whole."""
    state = watch.read(_runtime().database, job_id)
    if state is None:
        raise errors.NotFoundError(f"job {job_id} does not exist")
    _emit(state, as_json)


@jobs.command("list")
@click.option("--project", "project_id", default=None)
@click.option("--status", default=None)
@click.option("--limit", type=click.IntRange(1, 1000), default=20)
@click.option("--offset", type=click.IntRange(0), default=0)
@click.option("--json", "as_json", is_flag=True)
@_guard
def jobs_list(
    project_id: str | None, status: str | None, limit: int, offset: int, as_json: bool
) -> None:
    """Jobs, newest first."""
    with _runtime().database.transaction() as session:
        rows = [
            models.job_json(job)
            for job in db_jobs.list_jobs(
                session, project_id=project_id, status=status, limit=limit, offset=offset
            )
        ]
    if as_json:
        _emit({"jobs": rows}, True)
        return
    table = Table("id", "type", "project", "status", "stage", "%", "created", "error")
    for row in rows:
        table.add_row(
            *(str(row[key] or "") for key in ("id", "type", "project_id", "status", "stage")),
            str(row["progress"]),
            str(row["created_at"])[:19],
            str(row["error"] or "")[:60],
        )
    out.print(table)


@main.group()
def backups() -> None:
    """Read the backups table."""


@backups.command("list")
@click.option("--project", "project_id", default=None)
@click.option("--status", default=None)
@click.option("--limit", type=click.IntRange(1, 1000), default=20)
@click.option("--offset", type=click.IntRange(0), default=0)
@click.option("--json", "as_json", is_flag=True)
@_guard
def backups_list(
    project_id: str | None, status: str | None, limit: int, offset: int, as_json: bool
) -> None:
    """Backups, newest first."""
    with _runtime().database.transaction() as session:
        rows = [
            models.backup_json(row)
            for row in db_backups.list_backups(
                session, project_id=project_id, status=status, limit=limit, offset=offset
            )
        ]
    if as_json:
        _emit({"backups": rows}, True)
        return
    table = Table("id", "project", "database", "status", "bytes", "parts", "created", "expires")
    for row in rows:
        table.add_row(
            str(row["id"]),
            str(row["project_id"]),
            str(row["database"]),
            str(row["status"]),
            f"{row['size_bytes']:,}",
            str(row["part_count"]),
            str(row["created_at"])[:19],
            str(row["expires_at"])[:19],
        )
    out.print(table)


@backups.command("stats")
@click.option("--json", "as_json", is_flag=True)
@_guard
def backups_stats(as_json: bool) -> None:
    """Totals by status and type, bytes, expiring soon, latest backup per project."""
    with _runtime().database.transaction() as session:
        figures = db_backups.stats(session).to_json()
    _emit(figures, as_json)


@main.command()
@click.option("--database", default=None, help="database to back up; default: a sample one")
@click.option("--project", "project_id", default="demo-project")
@_guard
def demo(database: str | None, project_id: str) -> None:
    """One real backup end to end: migrate, start a worker, back up, show the result."""
    from worker import demo as demo_run

    sys.exit(demo_run.run(database=database, project_id=project_id, console=err))
