"""The chaos run's faults on the control plane and on Telegram's side.

- `record_outage`: the control plane's cluster stops for a few seconds while a record step
  runs. The step is caught inside its transaction as tests/acceptance/faults/
  test_control_plane_outage.py does (a lock on control_plane.backups, then waiting for a
  session blocked on it), so the outage cuts a record, not just any moment.
- `forget_part`: one part of a completed backup disappears from Telegram (the stand-in's
  `forget`, as if deleted by hand in the chat). The final verification must fail for that
  backup, and an alert must go out about it (worker/scheduling/alerts.py, kind `verify`).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import psycopg2

if TYPE_CHECKING:
    from chaos.harness import Run

log = logging.getLogger("chaos")

OUTAGE_SECONDS = 4.0  # the control plane stays down this long
CATCH_SECONDS = 90.0  # at most this long waiting for a record step to block on the lock
POLL = 0.2  # seconds between two looks for a blocked record step

BLOCKED = (
    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
    " AND query ILIKE '%control_plane.backups%'"
)
NEWEST_PART = (
    "SELECT b.id, b.project_id, p.chat_id, p.message_id, p.index"
    " FROM control_plane.backups b JOIN control_plane.backup_parts p ON p.backup_id = b.id"
    " WHERE b.job_id = ANY(CAST(%s AS uuid[])) ORDER BY b.created_at DESC, p.index DESC LIMIT 1"
)


def _blocked(run: Run) -> int:
    conn = psycopg2.connect(run.stack.control.dsn("control"))
    try:
        with conn.cursor() as cur:
            cur.execute(BLOCKED)
            row = cur.fetchone()
            return int(row[0]) if row else 0
    finally:
        conn.close()


def record_outage(run: Run, *, late: bool) -> bool:
    """Hold control_plane.backups until a record step waits on it, then stop the cluster.

    `late` (every job has ended) enqueues one more backup, counted with the others, whose
    record step is then caught. Returns False when no record step came (nothing injected).
    """
    stack = run.stack
    lock = psycopg2.connect(stack.control.dsn("control"))
    with lock.cursor() as cur:
        cur.execute("LOCK TABLE control_plane.backups IN ACCESS EXCLUSIVE MODE")
    started = time.monotonic()
    probe = False
    waiting = 0
    while time.monotonic() - started < CATCH_SECONDS:
        waiting = _blocked(run)
        if waiting:
            break
        if not probe and (late or run.finished(run.jobs) == len(run.jobs)):
            run.jobs.append(str(stack.enqueue("proj-probe", stack.sources[0].database)))
            run.report.jobs += 1
            probe = True
            log.info("chaos: every job had ended; probe backup %s enqueued", run.jobs[-1])
        run.reap()
        time.sleep(POLL)
    if not waiting:
        lock.close()
        run.report.record_outages_missed += 1
        log.info("chaos: no record step reached control_plane.backups in %s s", CATCH_SECONDS)
        return False
    stack.control.stop("fast")  # every session is cut: the record steps' and the lock's
    lock.close()
    time.sleep(OUTAGE_SECONDS)
    stack.control.start()
    run.event(
        f"record control plane down {OUTAGE_SECONDS:.0f} s while {waiting} record step(s)"
        " held their transaction"
    )
    return True


def forget_part(run: Run, *, late: bool) -> bool:
    """Remove the newest completed backup's last part from its chat; False when there is no
    completed backup yet (and the run goes on), unless `late`: then it is skipped for good."""
    conn = psycopg2.connect(run.stack.control.dsn("control"))
    try:
        with conn.cursor() as cur:
            cur.execute(NEWEST_PART, (run.jobs,))
            row = cur.fetchone()
    except psycopg2.Error:
        return False  # the control plane may be restarting
    finally:
        conn.close()
    if row is None:
        if late:
            run.event("forget skipped: no backup completed")
        return late
    backup_id, project, chat_id, message_id, index = row
    run.stack.standin.forget(int(chat_id), int(message_id))
    run.report.sabotaged = str(backup_id)
    run.report.sabotaged_project = str(project)
    run.event(
        f"forget part {index} of backup {backup_id} ({project}) gone from chat {chat_id},"
        " as if deleted by hand"
    )
    return True
