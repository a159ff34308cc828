"""RabbitMQ as the broker: the backup chain, worker_direct routing included, over AMQP.

Each test gets a virtual host of its own (rabbitmqctl), so that runs on one machine never share
a queue. RabbitMQ must be running at 127.0.0.1:5672 with the guest user (scripts/services.sh
starts it when it is not).
"""

from __future__ import annotations

import functools
import socket
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from celery import Celery
from sqlalchemy import text

from tests.acceptance.conftest import Stack
from worker.contract import publish, tasks
from worker.jobs import intake

AMQP_HOST = "127.0.0.1"
AMQP_PORT = 5672
RABBITMQCTL_TIMEOUT = 60  # seconds


def rabbitmqctl(*args: str) -> str:
    done = subprocess.run(
        ["rabbitmqctl", "-q", *args],
        capture_output=True,
        text=True,
        timeout=RABBITMQCTL_TIMEOUT,
        check=True,
    )
    return done.stdout


@pytest.fixture
def amqp_url() -> Iterator[str]:
    """An AMQP URL on a fresh virtual host, removed afterwards."""
    with socket.create_connection((AMQP_HOST, AMQP_PORT), timeout=5):
        pass
    vhost = f"bw-test-{uuid.uuid4().hex[:10]}"
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@{AMQP_HOST}:{AMQP_PORT}/{vhost}"
    finally:
        rabbitmqctl("delete_vhost", vhost)


def queues(vhost: str) -> dict[str, int]:
    """Queue name -> messages ready, as RabbitMQ lists them."""
    listing = rabbitmqctl("list_queues", "-p", vhost, "--no-table-headers", "name", "messages")
    found: dict[str, int] = {}
    for line in listing.splitlines():
        name, _, count = line.rpartition("\t")
        if name:
            found[name] = int(count)
    return found


def send(client: Celery, **kwargs: object) -> str:
    # An explicit connection: the producer pool's own AMQP socket outlives client.close().
    with client.connection_for_write() as conn:
        message = tasks.CreateBackup.from_kwargs(kwargs)
        task_id = publish.Publisher(functools.partial(client.send_task, connection=conn)).send(
            message
        )
    return str(message.job_id or intake.job_id_for_task(task_id))


def test_backup_chain_runs_over_amqp_on_the_worker_direct_queue(
    stack: Stack, amqp_url: str
) -> None:
    worker = stack.start_worker(CELERY_BROKER_URL=amqp_url, BACKUP_PART_SIZE="262144")
    client = Celery("gateway-amqp", broker=amqp_url)
    client.conf.broker_connection_retry_on_startup = True
    try:
        job_id = send(client, project_id="proj-amqp", database=stack.source_db)
        row = stack.wait_job(job_id, timeout=90)
    finally:
        client.close()
    assert row["status"] == "completed", (row["error"], worker.log()[-3000:])
    node = str(row["worker_hostname"])
    assert node == worker.hostname  # the Procfile's worker: celery@<host>
    vhost = amqp_url.rsplit("/", 1)[1]
    listed = queues(vhost)
    # The chain's steps went through this worker's own queue, which is now drained.
    assert listed.get(f"{node}.dq2") == 0, listed
    assert listed.get("celery") == 0, listed
    with stack.database.engine.connect() as conn:
        backups = conn.execute(
            text("SELECT part_count FROM control_plane.backups WHERE job_id = :id"),
            {"id": job_id},
        ).all()
    assert len(backups) == 1
    assert backups[0].part_count >= 2
    sent = [e for e in stack.standin.requests() if e["method"] == "sendDocument"]
    assert len(sent) == backups[0].part_count
    for step in ("backups.dump", "backups.upload", "backups.record"):
        assert f"Task {step}[" in worker.log()
    # The banner shows the broker URL with its password masked.
    assert "amqp://guest:**@" in worker.log()
    assert "guest:guest" not in worker.log()


def queue_types(vhost: str) -> dict[str, str]:
    """Queue name -> its type (classic, quorum), as RabbitMQ lists them."""
    listing = rabbitmqctl("list_queues", "-p", vhost, "--no-table-headers", "name", "type")
    return dict(line.rsplit("\t", 1) for line in listing.splitlines() if "\t" in line)


def test_a_backup_runs_on_quorum_queues(stack: Stack, amqp_url: str) -> None:
    worker = stack.start_worker(
        CELERY_BROKER_URL=amqp_url, BROKER_QUEUE_TYPE="quorum", BACKUP_PART_SIZE="262144"
    )
    # The gateway declares the queue it sends to as the worker does: RabbitMQ refuses to
    # declare a quorum queue again as a classic one (docs/reliability.md).
    client = Celery("gateway-quorum", broker=amqp_url)
    client.conf.broker_connection_retry_on_startup = True
    client.conf.task_default_queue_type = "quorum"
    try:
        job_id = send(client, project_id="proj-quorum", database=stack.source_db)
        row = stack.wait_job(job_id, timeout=90)
    finally:
        client.close()
    assert row["status"] == "completed", (row["error"], worker.log()[-3000:])
    types = queue_types(amqp_url.rsplit("/", 1)[1])
    assert types["celery"] == "quorum", types
    # Celery declares each worker's own queue (worker_direct) itself, as a classic one.
    assert types[f"{row['worker_hostname']}.dq2"] == "classic", types
    with stack.database.engine.connect() as conn:
        parts = conn.execute(
            text("SELECT part_count FROM control_plane.backups WHERE job_id = :id"),
            {"id": job_id},
        ).scalar_one()
    assert len(stack.standin.requests("sendDocument")) == parts >= 2
    assert "PRECONDITION_FAILED" not in worker.log()
