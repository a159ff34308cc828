"""Graceful shutdown: SIGTERM in the middle of an upload, and the job still completes once.

Celery's warm shutdown lets the running step finish (and be acknowledged) before the worker
exits; the chain's next step waits in the worker's own queue (`<nodename>.dq2`) until a worker
with the same node name comes back, as a restarted container or service does.
"""

from __future__ import annotations

import signal
import time

import redis
from sqlalchemy import text

from tests.acceptance.conftest import Stack
from tests.support.stack import job_row

UPLOAD_DELAY = 4  # seconds the stand-in holds the sendDocument answer


def test_sigterm_during_upload_finishes_the_step_and_the_job_completes_once(
    stack: Stack,
) -> None:
    # No -n: the Procfile's worker is celery@<host>, so its restart on the same host is the
    # same node and consumes the node's queue, where backups.record waits.
    first = stack.start_worker()
    stack.standin.set_faults(script=[f"delay:{UPLOAD_DELAY}"], methods=["sendDocument"])
    job_id = stack.send(project_id="proj-term", database=stack.source_db)
    deadline = time.monotonic() + 30
    while True:
        row = job_row(stack.database, job_id)
        if row is not None and row["stage"] == "upload":
            break
        assert time.monotonic() < deadline, first.log()[-3000:]
        time.sleep(0.05)
    time.sleep(0.5)  # the sendDocument request is now held by the stand-in
    signalled = time.monotonic()
    first.proc.send_signal(signal.SIGTERM)
    first.proc.wait(timeout=60)
    waited = time.monotonic() - signalled
    log = first.log()
    assert "Warm shutdown" in log
    assert "Task backups.upload[" in log
    assert "stage=upload: succeeded" in log
    assert waited >= UPLOAD_DELAY - 1.5, "the worker did not wait for the running upload"
    row = job_row(stack.database, job_id)
    assert row is not None
    assert row["status"] == "running"
    result = row["result"]
    assert isinstance(result, dict)
    assert len(result["uploaded"]) == 1
    node = str(row["worker_hostname"])
    broker = redis.Redis.from_url(stack.broker_url)
    try:
        assert broker.llen(f"{node}.dq2") == 1  # backups.record, waiting for this node
    finally:
        broker.close()

    second = stack.start_worker()
    row = stack.wait_job(job_id, timeout=60)
    assert row["status"] == "completed", (row["error"], second.log()[-3000:])
    sends = [e for e in stack.standin.requests() if e["method"] == "sendDocument"]
    assert len(sends) == 1
    with stack.database.engine.connect() as conn:
        backups = conn.execute(
            text("SELECT count(*) FROM control_plane.backups WHERE job_id = :id"), {"id": job_id}
        ).scalar_one()
    assert backups == 1
    # The job's row is completed inside the task; its "succeeded" line follows the return.
    deadline = time.monotonic() + 10
    while "stage=record: succeeded" not in second.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "stage=record: succeeded" in second.log()
