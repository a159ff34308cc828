"""The end of a chaos run: verify every backup, restore a sample, and count what is left."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

import psycopg2
from sqlalchemy import text

from worker.contract import tasks
from worker.jobs import intake

if TYPE_CHECKING:
    from chaos.harness import Run

FINISHED = ("completed", "failed", "cancelled")


def _rows(run: Run, sql: str, **params: object) -> list[dict[str, object]]:
    with run.stack.database.engine.connect() as conn:
        return [dict(row) for row in conn.execute(text(sql), params).mappings()]


def verify_and_restore(run: Run, deadline: float) -> None:
    """backups.verify for every backup; backups.restore into a new database for a sample."""
    stack = run.stack
    backups = _rows(
        run,
        "SELECT id, project_id, database, server FROM control_plane.backups"
        " WHERE job_id = ANY(CAST(:ids AS uuid[])) ORDER BY created_at",
        ids=run.jobs,
    )
    sabotaged = run.report.sabotaged
    sample = [b for b in backups if str(b["id"]) != sabotaged][: run.config.restore_sample]
    publisher = stack.publisher
    verifies: dict[str, str] = {}
    restores: dict[str, tuple[str, str, str]] = {}
    for backup in backups:
        backup_uuid = uuid.UUID(str(backup["id"]))
        task_id = publisher.send(tasks.VerifyBackup(str(backup["project_id"]), backup_uuid))
        verifies[str(intake.job_id_for_task(task_id))] = str(backup_uuid)
    for index, backup in enumerate(sample):
        # Into the backup's own server (target_server None), next to its source database.
        # A new database whose name RESTORE_TARGET_NAMES' default allows: `{database}_*`.
        target = f"{backup['database']}_chaos_restore_{index}"
        message = tasks.RestoreBackup(
            str(backup["project_id"]), uuid.UUID(str(backup["id"])), target
        )
        task_id = publisher.send(message)
        jid = str(intake.job_id_for_task(task_id))
        restores[jid] = (target, str(backup["database"]), str(backup["server"]))
    ids = list(verifies) + list(restores)
    while time.monotonic() < deadline and run.finished(ids) < len(ids):
        run.reap()
        time.sleep(0.5)
    status = {
        str(row["id"]): row
        for row in _rows(
            run,
            "SELECT id, status, error FROM control_plane.jobs WHERE id = ANY(CAST(:ids AS uuid[]))",
            ids=ids,
        )
    }
    verdict = {
        str(row["id"]): row["verify_status"]
        for row in _rows(run, "SELECT id, verify_status FROM control_plane.backups")
    }
    for jid, backup_id in verifies.items():
        row = status.get(jid)
        ok = row is not None and row["status"] == "completed" and verdict.get(backup_id) == "ok"
        if backup_id == sabotaged and not ok and verdict.get(backup_id) == "failed":
            run.report.sabotage_caught = str(row and row["error"])  # caught, as it must be
        elif ok:
            run.report.verified_ok += 1
        else:
            run.report.verify_failed.append(f"{backup_id}: {row and row['error']}")
    for jid, (target, source, server) in restores.items():
        row = status.get(jid)
        if row is None or row["status"] != "completed":
            run.report.restore_failed.append(f"{target}: {row and row['error']}")
        elif _count(run, server, target) != _count(run, server, source):
            run.report.restore_failed.append(f"{target}: rows differ from {source}")
        else:
            run.report.restored_ok += 1


def _count(run: Run, server: str, database: str) -> int:
    conn = psycopg2.connect(run.stack.cluster(server).dsn(database))
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(*), md5(string_agg(label || data::text, ',' ORDER BY id)) FROM items"
            )
            count, digest = cur.fetchone() or (0, "")
            return hash((int(count), digest))
    finally:
        conn.close()


RETRY_NOTE = "retrying in "  # worker.backup.ending.retry_later's log line: a dump found it full
FULL = "is full"  # the SpoolFull message a job fails with after its last attempt


def spool_full_counts(run: Run) -> tuple[int, int]:
    """(dumps put back because the spool was full, jobs failed with a full spool) so far."""
    logs = "".join(path.read_text(errors="replace") for path in run.stack.logs())
    retried = sum(1 for line in logs.splitlines() if RETRY_NOTE in line and FULL in line)
    try:
        failed = len(
            _rows(
                run,
                "SELECT id FROM control_plane.jobs WHERE id = ANY(CAST(:ids AS uuid[]))"
                " AND status = 'failed' AND position(:full in error) > 0",
                ids=run.jobs,
                full=FULL,
            )
        )
    except Exception:  # noqa: BLE001 - PostgreSQL may be restarting
        failed = 0
    return retried, failed


def spool_full_hits(run: Run) -> int:
    """How many times a dump has hit the full spool."""
    return sum(spool_full_counts(run))


def collect(run: Run) -> None:
    """Count jobs, duplicates, leftovers and Telegram requests into the report."""
    report, ids = run.report, run.jobs
    jobs = _rows(
        run,
        "SELECT status, error FROM control_plane.jobs WHERE id = ANY(CAST(:ids AS uuid[]))",
        ids=ids,
    )
    report.completed = sum(1 for j in jobs if j["status"] == "completed")
    failed = [j for j in jobs if j["status"] == "failed"]
    report.failed = len(failed)
    report.unfinished = len(ids) - report.completed - report.failed
    report.failed_without_reason = sum(1 for j in failed if not str(j["error"] or "").strip())
    from chaos.harness import reasons

    report.failure_reasons = reasons([str(j["error"]) for j in failed])
    report.backups = len(
        _rows(
            run,
            "SELECT id FROM control_plane.backups WHERE job_id = ANY(CAST(:ids AS uuid[]))",
            ids=ids,
        )
    )
    report.backups_by_server = {
        str(row["server"]): int(str(row["n"]))
        for row in _rows(
            run,
            "SELECT server, count(*) AS n FROM control_plane.backups"
            " WHERE job_id = ANY(CAST(:ids AS uuid[])) GROUP BY server ORDER BY server",
            ids=ids,
        )
    }
    report.jobs_with_two_backups = len(
        _rows(run, "SELECT job_id FROM control_plane.backups GROUP BY job_id HAVING count(*) > 1")
    )
    report.parts = len(_rows(run, "SELECT backup_id FROM control_plane.backup_parts"))
    report.parts_recorded_twice = len(
        _rows(
            run,
            'SELECT backup_id FROM control_plane.backup_parts GROUP BY backup_id, "index"'
            " HAVING count(*) > 1 UNION ALL SELECT NULL FROM control_plane.backup_parts"
            " GROUP BY file_unique_id HAVING count(*) > 1",
        )
    )
    # The reaper cleans finished jobs' spool directories on its host: give it a few runs.
    deadline = time.monotonic() + 30
    while run.stack.spool.leftovers() and time.monotonic() < deadline:
        run.reap(force=True)
        time.sleep(2)
    report.spool_leftovers = [
        str(p.relative_to(run.stack.spool.path)) for p in run.stack.spool.leftovers()
    ]
    logs = "".join(path.read_text(errors="replace") for path in run.stack.logs())
    rerun = logs.count("which does not answer; sent again from the start")
    report.reaper = {
        "re-run after a lost worker": rerun,
        "step sent again on its host (message lost)": logs.count("sent again from") - rerun,
        "message sent again (lost by Redis)": logs.count("its message sent again"),
        "redelivered step stopped": logs.count("another copy of this step is running"),
    }
    retried, failed_full = spool_full_counts(run)
    report.spool_full = {"dumps retried": retried, "jobs failed": failed_full}
    attempts = _rows(
        run,
        "SELECT attempts FROM control_plane.jobs WHERE id = ANY(CAST(:ids AS uuid[]))",
        ids=ids,
    )
    report.reaper["jobs that needed more than one attempt"] = sum(
        1 for a in attempts if int(str(a["attempts"])) > 1
    )
    entries = run.stack.standin.requests()
    report.telegram_requests = len(entries)
    report.send_document_requests = sum(1 for e in entries if e["method"] == "sendDocument")
    faults: dict[str, int] = {}
    for entry in entries:
        if entry.get("fault"):
            word = f"telegram {entry['fault']}"
            faults[word] = faults.get(word, 0) + 1
    report.faults_injected.update(faults)
