"""The worker as the Procfile starts it survives its Redis broker restarting, again and again.

A worker that loses its broker reconnects and goes on; what it must not do is die when a step
finishes while the connection it came on is being replaced (kombu's Redis transport then
raised AttributeError from the acknowledgement, which Celery's event loop took for an
unrecoverable error: worker/broker.py). The broker here keeps an append-only file, as a
production one does, so a restart loses no message: every job must complete exactly once, and
the worker must still be running at the end. No option is added to the Procfile's command:
gossip, mingle and heartbeats stay on, as they ship.
"""

from __future__ import annotations

import threading
import time

import pytest
from celery import Celery
from kombu.exceptions import OperationalError
from sqlalchemy import text

from tests.acceptance.conftest import Stack
from tests.support import services
from worker.contract import publish, tasks
from worker.jobs import intake

RESTARTS = 30
DOWN_FOR = 0.3  # seconds the broker stays down each time
UP_FOR = 0.8  # seconds of work after the worker is connected again, before the next restart
SEND_EVERY = 0.4  # seconds between two backups sent by the "gateway"
# Celery's consumer logs this on every connection: once at start, then after each loss.
CONNECTED = "Connected to "


@pytest.mark.timeout(400)
def test_the_procfile_worker_survives_30_broker_restarts_and_completes_every_job_once(
    stack: Stack,
) -> None:
    broker = services.RedisServer(stack.tmp / "broker", services.free_port(), append_only=True)
    broker.start()
    url = f"redis://127.0.0.1:{broker.port}/0"
    # The pacer's budgets off: this test is about the broker, and one group's 20 messages a
    # minute would queue the stream's uploads for minutes (its own tests: tests/acceptance/fleet).
    worker = stack.start_worker(
        CELERY_BROKER_URL=url,
        CELERY_RESULT_BACKEND=url,
        TELEGRAM_CHAT_PER_SECOND="0",
        TELEGRAM_GROUP_PER_MINUTE="0",
    )
    gateway = Celery("gateway-test", broker=url)
    gateway.conf.broker_connection_retry_on_startup = True
    publisher = publish.Publisher(gateway.send_task)
    job_ids: list[str] = []
    stop_sending = threading.Event()

    def send_stream() -> None:
        while not stop_sending.is_set():
            message = tasks.CreateBackup(f"proj-br-{len(job_ids)}", stack.source_db)
            try:
                task_id = publisher.send(message)
            except OperationalError:  # the broker is down: the gateway tries again
                time.sleep(0.1)
                continue
            job_ids.append(str(intake.job_id_for_task(task_id)))
            time.sleep(SEND_EVERY)

    sender = threading.Thread(target=send_stream, daemon=True)
    try:
        sender.start()
        for restart in range(RESTARTS):
            time.sleep(UP_FOR)
            broker.stop()
            time.sleep(DOWN_FOR)
            broker.start()
            # Each restart must be one the worker lived through: wait for its reconnection.
            deadline = time.monotonic() + 60
            while worker.log().count(CONNECTED) < restart + 2:
                assert worker.alive(), f"the worker exited:\n{tail(worker.log())}"
                assert time.monotonic() < deadline, f"no reconnection:\n{tail(worker.log())}"
                time.sleep(0.1)
        stop_sending.set()
        sender.join(timeout=30)
        assert len(job_ids) >= RESTARTS
        rows = [stack.wait_job(job_id, timeout=240) for job_id in job_ids]
        assert worker.alive(), f"the worker exited:\n{tail(worker.log())}"
        failed = {str(row["id"]): row["error"] for row in rows if row["status"] != "completed"}
        assert failed == {}, (failed, tail(worker.log(), 200))
        with stack.database.engine.connect() as conn:
            per_job = conn.execute(
                text("SELECT job_id, count(*) FROM control_plane.backups GROUP BY job_id")
            ).all()
        assert {str(job): count for job, count in per_job} == dict.fromkeys(job_ids, 1)
        log = worker.log()
        assert "Unrecoverable error" not in log
        assert log.count("Connection to broker lost") >= RESTARTS
    finally:
        stop_sending.set()
        worker.stop()
        gateway.close()
        broker.stop()


def tail(log: str, lines: int = 60) -> str:
    return "\n".join(log.splitlines()[-lines:])
