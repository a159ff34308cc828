"""Graceful shutdown: SIGTERM in the middle of an upload, and the job still completes once.

Celery's warm shutdown lets the running step finish (and be acknowledged) before the worker
exits; the chain's next step waits in the worker's own queue (`<nodename>.dq2`) until a worker
with the same node name comes back, as a restarted container or service does.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import redis
from sqlalchemy import text

from tests.acceptance.conftest import READY_TIMEOUT, Stack, WorkerProcess, job_row

UPLOAD_DELAY = 4  # seconds the stand-in holds the sendDocument answer


def start_named(stack: Stack, name: str) -> WorkerProcess:
    """A worker with a fixed node name (Stack.start_worker picks a new one each time)."""
    env = stack.env()
    log_path = stack.tmp / f"{name}-{uuid.uuid4().hex[:6]}.log"
    args = [sys.executable, "-m", "celery", "-A", "worker.app", "worker", "-P", "prefork"]
    args += ["--concurrency=2", "-n", f"{name}@%h", "--loglevel=INFO"]
    args += ["--without-gossip", "--without-mingle"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    worker = WorkerProcess(proc, log_path, env, Path(env["BACKUP_SPOOL_DIR"]))
    stack.workers.append(worker)
    deadline = time.monotonic() + READY_TIMEOUT
    while "ready." not in worker.log():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"worker did not start:\n{worker.log()}")
        time.sleep(0.1)
    return worker


def test_sigterm_during_upload_finishes_the_step_and_the_job_completes_once(
    stack: Stack,
) -> None:
    name = f"term-{uuid.uuid4().hex[:8]}"
    first = start_named(stack, name)
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
    broker = redis.Redis(host="127.0.0.1", port=6379, db=stack.broker_db)
    try:
        assert broker.llen(f"{node}.dq2") == 1  # backups.record, waiting for this node
    finally:
        broker.close()

    second = start_named(stack, name)
    row = stack.wait_job(job_id, timeout=60)
    assert row["status"] == "completed", (row["error"], second.log()[-3000:])
    sends = [e for e in stack.standin.requests() if e["method"] == "sendDocument"]
    assert len(sends) == 1
    with stack.database.engine.connect() as conn:
        backups = conn.execute(
            text("SELECT count(*) FROM control_plane.backups WHERE job_id = :id"), {"id": job_id}
        ).scalar_one()
    assert backups == 1
    assert "stage=record: succeeded" in second.log()
