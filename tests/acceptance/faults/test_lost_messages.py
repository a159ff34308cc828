"""A broker that restarts without persistence loses the jobs' step messages: each job continues at
the step where it stands, on its own worker, within seconds of the worker's reconnection.

The broker is a `redis-server` of the test's own with no persistence (LOST_AOF=1: with an
append-only file, as scripts/services.sh starts one): every restart empties it. The worker is
the Procfile's. Backups: every job completes exactly once, at its first attempt (nothing dumped
twice), and sendDocument is called once per part. A restore, a verify and a drill: their chain's
message is made to be lost for certain (the worker stops consuming its own queue, the broker
restarts, the worker consumes again and reconnects once more), and each completes at its first
attempt.
"""

from __future__ import annotations

import math
import os
import socket
import time
import uuid
from collections.abc import Callable

import pytest
import redis
from celery import Celery
from kombu.exceptions import OperationalError
from sqlalchemy import text

from standin import limits
from tests.acceptance.conftest import Stack
from tests.support import services, workers
from tests.support.sources import drop_database
from worker.contract import publish, request, tasks
from worker.jobs import intake

# CI's run; chaos/broker_restarts.sh runs the 90 backups and 30 restarts, paced.
BACKUPS = int(os.environ.get("LOST_BACKUPS", "10"))
RESTARTS = int(os.environ.get("LOST_RESTARTS", "4"))
# The fleet pacer's defaults, one part a backup, and the stand-in enforcing Telegram's limits.
PACED = os.environ.get("LOST_PACED") == "1"
# With PACED: the pacer on a Redis of its own that does not restart (PACER_REDIS_URL), so the
# broker's restarts do not wipe its counts of what Telegram has taken.
OWN_PACER = os.environ.get("LOST_OWN_PACER") == "1"
# The broker with an append-only file (a clean restart keeps its messages and the pacer's
# counts), as scripts/services.sh and Compose run it; without it, as a crash of a Redis that
# keeps nothing.
AOF = os.environ.get("LOST_AOF") == "1"
TIMEOUT = int(os.environ.get("LOST_TIMEOUT", "240"))
CONNECTED = "Connected to "  # Celery's consumer logs it at each connection
PROJECT = "proj-lost"


def _restart(broker: services.RedisServer, worker: workers.Process, connections: int) -> int:
    """Restart the broker (a crash: everything in it is lost); wait for the worker's
    reconnection. Returns the connections seen since the worker started."""
    broker.stop()
    time.sleep(0.3)
    broker.start()
    deadline = time.monotonic() + 60
    while worker.log().count(CONNECTED) <= connections:
        assert worker.alive(), worker.log()[-3000:]
        assert time.monotonic() < deadline, worker.log()[-3000:]
        time.sleep(0.1)
    return worker.log().count(CONNECTED)


def _control(call: Callable[[], object]) -> None:
    """A control command from the gateway, until the worker answers: right after a broker
    restart the gateway's connection is closed, and the worker's control queue may not be
    bound again yet (a broadcast nobody receives is dropped)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if call():
                return
        except (redis.ConnectionError, OperationalError):
            pass
        time.sleep(0.25)
    raise AssertionError("the worker did not answer a control command")


def _rows(stack: Stack, query: str, **params: object) -> list[dict[str, object]]:
    with stack.database.engine.connect() as conn:
        return [dict(row) for row in conn.execute(text(query), params).mappings()]


def _wait_claimed(stack: Stack, job_ids: list[uuid.UUID], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = _rows(
            stack,
            "SELECT count(*) AS n FROM control_plane.jobs WHERE id = ANY(:ids)"
            " AND worker_hostname IS NOT NULL",
            ids=job_ids,
        )
        if rows[0]["n"] == len(job_ids):
            return
        time.sleep(0.1)
    raise AssertionError("the jobs were not all claimed")


@pytest.mark.timeout(TIMEOUT)
def test_lost_step_messages_cost_a_step_not_a_job(stack: Stack) -> None:
    broker = services.RedisServer(stack.tmp / "broker", services.free_port(), append_only=AOF)
    broker.start()
    url = f"redis://127.0.0.1:{broker.port}/0"
    node = f"lost-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"
    env = {"CELERY_BROKER_URL": url, "CELERY_RESULT_BACKEND": url}
    # The pacer's budgets off (its own tests: tests/acceptance/fleet); small parts: several
    # per backup, so that an upload can be cut between two parts.
    unpaced = {"TELEGRAM_CHAT_PER_SECOND": "0", "TELEGRAM_GROUP_PER_MINUTE": "0"}
    sizes = {"BACKUP_PART_SIZE": "65536"}
    pacer = services.RedisServer(stack.tmp / "pacer", services.free_port())
    if PACED:
        stack.standin.set_limits(limits.TELEGRAM)
    if OWN_PACER:
        pacer.start()
        env["PACER_REDIS_URL"] = f"redis://127.0.0.1:{pacer.port}/0"
    worker = stack.start_worker(
        "-n",
        node,
        **env,
        **({} if PACED else unpaced | sizes),
        # Paced, steps wait for their turn in a pool thread: more threads keep accepting.
        WORKER_CONCURRENCY="8" if PACED else "2",
    )
    gateway = Celery("gateway-lost", broker=url)
    gateway.conf.broker_connection_retry_on_startup = True
    publisher = publish.Publisher(gateway.send_task)
    target = f"{stack.source_db}_lost_{uuid.uuid4().hex[:6]}"
    try:
        connections = worker.log().count(CONNECTED)
        req = request.validate(PROJECT, stack.source_db, None, None, None, None)
        job_ids: list[uuid.UUID] = []
        per_round = math.ceil(BACKUPS / RESTARTS)
        started = time.monotonic()
        for _ in range(RESTARTS):
            batch = [
                intake.enqueue(stack.runtime, req, publisher)
                for _ in range(min(per_round, BACKUPS - len(job_ids)))
            ]
            job_ids += batch
            # Each backups.create ran (a lost one is not this test's subject: it waits for the
            # reaper's lost-pending path); their steps wait in the worker's own queue.
            _wait_claimed(stack, batch, timeout=120 if PACED else 30)
            connections = _restart(broker, worker, connections)
            time.sleep(1.5)
        last_restart = time.monotonic() - 1.5
        rows = [stack.wait_job(job_id, timeout=TIMEOUT) for job_id in job_ids]
        after_last = time.monotonic() - last_restart
        backups = _rows(
            stack,
            "SELECT job_id, part_count FROM control_plane.backups WHERE job_id = ANY(:ids)",
            ids=job_ids,
        )
        parts = sum(int(str(b["part_count"])) for b in backups)
        uploads = stack.standin.requests("sendDocument")
        answered = [u for u in uploads if u["status"] == 200]
        log = worker.log()
        attempts = sorted(int(str(row["attempts"])) for row in rows)
        first = min(float(str(u["time"])) for u in uploads)
        last = max(float(str(u["time"])) for u in answered)
        # The figures first, so that a failing run still reports them.
        print(
            f"\n{BACKUPS} backups, {RESTARTS} restarts in {last_restart - started:.1f} s: "
            f"attempts {sorted(set(attempts))} ({sum(a > 1 for a in attempts)} above 1), "
            f"{parts} parts, {len(answered)} sendDocument answered 200 of {len(uploads)} "
            f"({len(uploads) / BACKUPS:.2f} per backup), "
            f"{log.count('sent again from')} steps sent again; all ended "
            f"{after_last:.1f} s after the last restart, the uploads took {last - first:.1f} s"
        )
        failed = {str(row["id"]): row["error"] for row in rows if row["status"] != "completed"}
        assert failed == {}, log[-5000:]
        # Nothing ran again from the start: one attempt, one backup, one sendDocument a part.
        assert set(attempts) == {1}
        assert sorted(str(b["job_id"]) for b in backups) == sorted(str(j) for j in job_ids)
        assert len(answered) == parts
        if not PACED:  # no limits: nothing refused, nothing retried
            assert len(uploads) == parts
        assert "sent again from" in log, "no step message was lost: the test proves nothing"
        assert "None went silent" not in log

        # A restore, a verify and a drill whose chain's message is lost for certain.
        backup = _rows(
            stack,
            "SELECT id FROM control_plane.backups WHERE job_id = :id",
            id=job_ids[-1],
        )[0]["id"]
        direct = node + tasks.DIRECT_QUEUE_SUFFIX
        _control(lambda: gateway.control.cancel_consumer(direct, destination=[node], reply=True))
        sent = [
            publisher.send(tasks.RestoreBackup(PROJECT, uuid.UUID(str(backup)), target)),
            publisher.send(tasks.VerifyBackup(PROJECT, uuid.UUID(str(backup)))),
        ]
        publisher.send(tasks.RunDrills(PROJECT))
        drills: list[dict[str, object]] = []
        deadline = time.monotonic() + 30
        while not drills:
            assert time.monotonic() < deadline, "no drill was started"
            time.sleep(0.2)
            drills = _rows(
                stack, "SELECT id FROM control_plane.jobs WHERE payload->>'mode' = 'drill'"
            )
        held = [intake.job_id_for_task(task_id) for task_id in sent]
        held += [uuid.UUID(str(d["id"])) for d in drills]
        _wait_claimed(stack, held)
        connections = _restart(broker, worker, connections)  # their chains' messages lost
        _control(lambda: gateway.control.add_consumer(direct, destination=[node], reply=True))
        # The worker's own queue was not bound to its exchange while it did not consume it, so
        # the resume of that reconnection went nowhere: the next reconnection's is the test.
        connections = _restart(broker, worker, connections)
        for job_id in held:
            row = stack.wait_job(job_id, timeout=90)
            assert row["status"] == "completed", row["error"]
            assert row["attempts"] == 1
        assert worker.log().count("went silent on " + node) >= len(held)
    finally:
        worker.stop()
        gateway.close()
        broker.stop()
        pacer.stop()
        drop_database(target)


DEFERRED_BACKUPS = 8  # one part each, into one group chat: 3 s apart at Telegram's 20 a minute


@pytest.mark.timeout(240)
def test_uploads_waiting_for_their_slot_outlive_a_broker_restart(stack: Stack) -> None:
    """Uploads deferred to their Telegram slots (countdown messages the worker holds) when the
    broker restarts: the worker drops those messages at its reconnection, and its resume pass
    sends each again for the slot its row keeps. Every job completes at its first attempt,
    one sendDocument a part, by the last slot plus a minute."""
    broker = services.RedisServer(stack.tmp / "broker", services.free_port())
    broker.start()
    url = f"redis://127.0.0.1:{broker.port}/0"
    # The pacer on a Redis that does not restart: its slots outlive the broker's restart.
    pacer = services.RedisServer(stack.tmp / "pacer", services.free_port())
    pacer.start()
    stack.standin.set_limits(limits.TELEGRAM)
    node = f"slots-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"
    worker = stack.start_worker(
        "-n",
        node,
        CELERY_BROKER_URL=url,
        CELERY_RESULT_BACKEND=url,
        PACER_REDIS_URL=f"redis://127.0.0.1:{pacer.port}/0",
        WORKER_CONCURRENCY="8",
    )
    gateway = Celery("gateway-slots", broker=url)
    publisher = publish.Publisher(gateway.send_task)
    try:
        connections = worker.log().count(CONNECTED)
        req = request.validate(PROJECT, stack.source_db, None, None, None, None)
        job_ids = [intake.enqueue(stack.runtime, req, publisher) for _ in range(DEFERRED_BACKUPS)]
        _wait_claimed(stack, job_ids, timeout=60)
        deadline = time.monotonic() + 60
        while worker.log().count("the step goes on then") < DEFERRED_BACKUPS // 2:
            assert time.monotonic() < deadline, worker.log()[-3000:]
            time.sleep(0.2)
        _restart(broker, worker, connections)
        restarted = time.monotonic()
        rows = [stack.wait_job(job_id, timeout=120) for job_id in job_ids]
        after = time.monotonic() - restarted
        log = worker.log()
        answered = [u for u in stack.standin.requests("sendDocument") if u["status"] == 200]
        print(
            f"\n{DEFERRED_BACKUPS} deferred uploads, 1 restart: all ended {after:.1f} s after "
            f"it, {len(answered)} sendDocument answered, "
            f"{log.count('its message for its Telegram slot')} sent again for their slot"
        )
        failed = {str(row["id"]): row["error"] for row in rows if row["status"] != "completed"}
        assert failed == {}, log[-5000:]
        assert {row["attempts"] for row in rows} == {1}
        assert len(answered) == DEFERRED_BACKUPS
        assert "its message for its Telegram slot" in log, "no deferred message was lost"
        assert after < DEFERRED_BACKUPS * 3 + 60
    finally:
        worker.stop()
        gateway.close()
        broker.stop()
        pacer.stop()
