"""The worker as the Procfile starts it survives its Redis broker restarting, again and again.

A worker that loses its broker reconnects and goes on; what it must not do is die when a step
finishes while the connection it came on is being replaced (kombu's Redis transport then
raised AttributeError from the acknowledgement, which Celery's event loop took for an
unrecoverable error: worker/broker.py). Redis here keeps an append-only file, as a production
broker does, so a restart loses no message: every job must complete exactly once, and the
worker must still be running at the end.
"""

from __future__ import annotations

import shlex
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from celery import Celery
from kombu.exceptions import OperationalError
from sqlalchemy import text

from tests.acceptance.conftest import Stack
from tests.support.stack import job_row
from worker.jobs import intake

RESTARTS = 30
DOWN_FOR = 0.3  # seconds the broker stays down each time
UP_FOR = 0.8  # seconds of work after the worker is connected again, before the next restart
SEND_EVERY = 0.4  # seconds between two backups sent by the "gateway"
# Celery's consumer logs this on every connection: once at start, then after each loss.
CONNECTED = "Connected to "
PROCFILE = Path(__file__).resolve().parents[2] / "Procfile"


def procfile_command(process: str) -> list[str]:
    """The Procfile's command line for `process`, run with this interpreter's Celery."""
    for line in PROCFILE.read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            args = shlex.split(command)
            return [sys.executable, "-m", "celery", *args[1:]] if args[0] == "celery" else args
    raise AssertionError(f"no {process!r} process in {PROCFILE}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Broker:
    """A redis-server with an append-only file (fsync on every write), restarted at will."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        root.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.root)]
        with (self.root / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        self._wait(up=True)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()  # a clean shutdown: Redis flushes its append-only file
            self.proc.wait(timeout=30)
            self.proc = None
        self._wait(up=False)

    def _wait(self, *, up: bool) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                reachable = True
            except OSError:
                reachable = False
            if reachable == up:
                return
            time.sleep(0.05)
        raise AssertionError(f"redis on {self.port} did not go {'up' if up else 'down'}")


@pytest.mark.timeout(400)
def test_the_procfile_worker_survives_30_broker_restarts_and_completes_every_job_once(
    stack: Stack,
) -> None:
    broker = Broker(stack.tmp / "broker")
    broker.start()
    env = stack.env(CELERY_BROKER_URL=broker.url, CELERY_RESULT_BACKEND=broker.url)
    log_path = stack.tmp / "worker.log"
    with log_path.open("wb") as log:
        # Exactly the Procfile's command: gossip, mingle and heartbeats included.
        worker = subprocess.Popen(
            procfile_command("worker"), env=env, stdout=log, stderr=subprocess.STDOUT
        )
    gateway = Celery("gateway-test", broker=broker.url)
    gateway.conf.broker_connection_retry_on_startup = True
    job_ids: list[str] = []
    stop_sending = threading.Event()

    def send_stream() -> None:
        while not stop_sending.is_set():
            try:
                task_id = str(gateway.send_task("backups.create", kwargs=kwargs()).id)
            except OperationalError:  # the broker is down: the gateway tries again
                time.sleep(0.1)
                continue
            job_ids.append(str(intake.job_id_for_task(task_id)))
            time.sleep(SEND_EVERY)

    def kwargs() -> dict[str, object]:
        return {"project_id": f"proj-br-{len(job_ids)}", "database": stack.source_db}

    try:
        deadline = time.monotonic() + 60
        while "ready." not in log_path.read_text(errors="replace"):
            assert worker.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.1)
        sender = threading.Thread(target=send_stream, daemon=True)
        sender.start()
        for restart in range(RESTARTS):
            time.sleep(UP_FOR)
            broker.stop()
            time.sleep(DOWN_FOR)
            broker.start()
            # Each restart must be one the worker lived through: wait for its reconnection.
            deadline = time.monotonic() + 60
            while log_path.read_text(errors="replace").count(CONNECTED) < restart + 2:
                assert worker.poll() is None, f"the worker exited:\n{tail(log_path)}"
                assert time.monotonic() < deadline, f"no reconnection:\n{tail(log_path)}"
                time.sleep(0.1)
        stop_sending.set()
        sender.join(timeout=30)
        assert len(job_ids) >= RESTARTS
        rows = [stack.wait_job(job_id, timeout=240) for job_id in job_ids]
        assert worker.poll() is None, f"the worker exited:\n{tail(log_path)}"
        statuses = {str(row["id"]): row["status"] for row in rows}
        assert set(statuses.values()) == {"completed"}, statuses
        with stack.database.engine.connect() as conn:
            per_job = conn.execute(
                text("SELECT job_id, count(*) FROM control_plane.backups GROUP BY job_id")
            ).all()
        assert {str(job): count for job, count in per_job} == dict.fromkeys(job_ids, 1)
        assert all(job_row(stack.database, job_id) is not None for job_id in job_ids)
        text_log = log_path.read_text(errors="replace")
        assert "Unrecoverable error" not in text_log
        assert text_log.count("Connection to broker lost") >= RESTARTS
    finally:
        stop_sending.set()
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        gateway.close()
        broker.stop()


def tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
