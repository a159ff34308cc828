"""`backup-worker backups show ID`: everything the control plane knows of one backup."""

from __future__ import annotations

import click

from db import models
from db.queries import backups as db_backups
from db.queries import jobs as db_jobs
from worker import errors
from worker.cli import common, human, ids, outcome

line = outcome.line
SHA_SHOWN = 12  # hex digits of a part's sha256 in the table (the whole one is in --json)
_JOB_KEYS = ("id", "type", "status", "created_at", "started_at", "finished_at", "error")


def read(backup_id: str) -> common.Row:
    """`{"backup": the row with its parts, "job": the job that made it or None}`."""
    rt = common.build_runtime()
    found = ids.resolve(rt, ids.BACKUP, backup_id)
    with rt.database.transaction() as session:
        backup = db_backups.get_backup(session, found)
        if backup is None:
            raise errors.NotFoundError(f"backup {found} does not exist")
        job = None if backup.job_id is None else db_jobs.get_job(session, backup.job_id)
        made_by = None if job is None else models.job_json(job)
    return {
        "backup": models.backup_json(backup),
        "job": None if made_by is None else {key: made_by[key] for key in _JOB_KEYS},
    }


def _when(value: object) -> str:
    return f"{human.timestamp(value)} UTC ({human.ago(value)})" if value else "never"


def lines(found: common.Row) -> list[str]:
    """The backup as `label  text` lines, before its parts' table."""
    backup = found["backup"]
    assert isinstance(backup, dict)
    recipients = backup.get("encryption_recipients") or []
    sealed = f"age, {len(recipients)} recipient(s)" if backup.get("encrypted") else "none"
    shown = [
        line("backup", f"{backup['id']}  {backup['status']}"),
        line("project", backup["project_id"]),
        line("server", backup.get("server")),
        line("database", backup.get("database") or f"({backup.get('type')})"),
        line("file", backup.get("filename")),
        line("created", _when(backup.get("created_at"))),
        line("expires", _when(backup.get("expires_at")) if backup.get("expires_at") else "never"),
        line(
            "size",
            f"{human.size(backup['size_bytes'])} ({backup['size_bytes']:,} bytes)"
            f" in {human.count(backup['part_count'], 'part')},"
            f" compression {backup.get('compression')}",
        ),
        line("encrypted", sealed),
        line("sha256", backup.get("sha256")),
        line("pg_dump", backup.get("pg_dump_version") or "unknown"),
        line("chat", f"{backup.get('chat_id')}, thread {backup.get('message_thread_id') or '-'}"),
    ]
    if backup.get("caption"):
        shown.append(line("caption", backup["caption"]))
    verify = backup.get("verify_status")
    shown.append(
        line("verified", f"{verify} {_when(backup.get('verified_at'))}" if verify else "never")
    )
    drill = backup.get("drill_status")
    report = backup.get("drill_report")
    failed = report.get("error") if isinstance(report, dict) else None
    shown.append(
        line(
            "drilled",
            f"{drill} {_when(backup.get('drilled_at'))}" + (f": {failed}" if failed else "")
            if drill
            else "never",
        )
    )
    job = found["job"]
    if isinstance(job, dict):
        took = human.between(job.get("started_at"), job.get("finished_at"))
        shown.append(
            line("made by", f"job {job['id']}  {job['status']}" + (f" in {took}" if took else ""))
        )
    else:
        shown.append(line("made by", "no job on record (registered, or its job was pruned)"))
    return shown


def render(found: common.Row) -> None:
    from rich.table import Table

    outcome.echo(lines(found))
    backup = found["backup"]
    assert isinstance(backup, dict)
    table = Table("part", "chat", "message", "size", "sha256", "deleted")
    for part in backup["parts"]:
        table.add_row(
            str(part["index"]),
            str(part["chat_id"]),
            str(part["message_id"]),
            human.size(part["size_bytes"]),
            f"{str(part['sha256'])[:SHA_SHOWN]}…",
            str(part.get("delete_status") or ""),
        )
    common.out.print(table)


@click.command("show")
@click.argument("backup_id", callback=ids.digits)
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
@common.guard
def show(backup_id: str, as_json: bool) -> None:
    """One backup, whole: its parts, encryption, checks, the job that made it (BACKUP_ID: the
    id, or its first 4 or more hex digits)."""
    found = read(backup_id)
    if as_json:
        common.emit(found, True)
    else:
        render(found)
