"""The api-gateway contract with the real npm celery-node client, against a real worker on Redis.

tests/node/enqueue.js sends backups.create as the gateway does. celery-node (0.5.9) sends
protocol v2 with only the `lang`, `task` and `id` headers: no argsrepr/kwargsrepr, origin,
retries, root_id or parent_id. The worker must run such a message all the same.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.acceptance.conftest import Stack
from worker.jobs import intake

NODE_DIR = Path(__file__).resolve().parents[2] / "node"
NPM_TIMEOUT = 300  # seconds: a first `npm ci` downloads the packages
NODE_TIMEOUT = 30  # seconds


@pytest.fixture(scope="module")
def node_client() -> Path:
    """tests/node with its packages installed from package-lock.json."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node is not None, "node is needed (apt-get install nodejs)"
    assert npm is not None, "npm is needed (apt-get install npm)"
    if not (NODE_DIR / "node_modules" / "celery-node").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR,
            check=True,
            timeout=NPM_TIMEOUT,
        )
    return NODE_DIR / "enqueue.js"


def enqueue(stack: Stack, script: Path, *args: str) -> dict[str, str | None]:
    broker = stack.broker_url
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "CELERY_BROKER_URL": broker}
    env["NODE_PATH"] = str(NODE_DIR / "node_modules")  # for scripts outside tests/node
    done = subprocess.run(
        ["node", str(script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, str | None] = json.loads(done.stdout)
    return answer


def backup_count(stack: Stack, job_id: str) -> int:
    with stack.database.engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM control_plane.backups WHERE job_id = :id"),
                {"id": job_id},
            ).scalar_one()
        )


def insert_pending_job(stack: Stack, job_id: str, project_id: str) -> None:
    """What the gateway does before it enqueues: a pending row it can show at once."""
    with stack.database.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO control_plane.jobs (id, type, project_id, status) "
                "VALUES (:id, 'backup', :project, 'pending')"
            ),
            {"id": job_id, "project": project_id},
        )


def test_gateway_job_sent_by_celery_node_completes(stack: Stack, node_client: Path) -> None:
    worker = stack.start_worker()
    job_id = str(uuid.uuid4())
    insert_pending_job(stack, job_id, "proj-node")
    sent = enqueue(
        stack,
        node_client,
        *("--project", "proj-node", "--database", stack.source_db, "--job-id", job_id),
        *("--caption", "from node", "--expires-in-days", "3"),
    )
    row = stack.wait_job(job_id)
    assert row["status"] == "completed", (row["error"], worker.log()[-3000:])
    assert row["progress"] == 100
    assert backup_count(stack, job_id) == 1
    assert f"Task backups.create[{sent['task_id']}] succeeded" in worker.log()
    assert f"job {job_id} project=proj-node stage=record: succeeded" in worker.log()
    captions = [str(m["caption"]) for m in stack.standin.messages()]
    assert any("from node" in caption for caption in captions)


def test_without_job_id_the_worker_derives_it_from_the_task_id(
    stack: Stack, node_client: Path
) -> None:
    stack.start_worker()
    sent = enqueue(stack, node_client, "--project", "proj-node-2", "--database", stack.source_db)
    assert sent["job_id"] is None
    job_id = str(intake.job_id_for_task(str(sent["task_id"])))
    row = stack.wait_job(job_id)
    assert row["status"] == "completed", row["error"]
    assert row["celery_task_id"] == sent["task_id"]
    assert backup_count(stack, job_id) == 1


def test_a_message_ahead_of_the_gateways_commit_waits_for_the_row(
    stack: Stack, node_client: Path
) -> None:
    stack.start_worker()
    job_id = str(uuid.uuid4())
    # The gateway's insert commits a moment after its message is sent: the worker retries.
    late = threading.Timer(1.5, insert_pending_job, args=(stack, job_id, "proj-node-3"))
    late.start()
    try:
        enqueue(
            stack,
            node_client,
            *("--project", "proj-node-3", "--database", stack.source_db, "--job-id", job_id),
        )
        row = stack.wait_job(job_id)
    finally:
        late.join()
    assert row["status"] == "completed", row["error"]
    assert backup_count(stack, job_id) == 1


def test_positional_arguments_are_refused_without_a_job(
    stack: Stack, node_client: Path, tmp_path: Path
) -> None:
    """task.delay(project, database) sends positional args: documented as wrong, and harmless."""
    worker = stack.start_worker()
    script = tmp_path / "delay-positional.js"
    script.write_text(
        "const celery = require('celery-node');\n"
        "(async () => {\n"
        "  const c = celery.createClient(process.env.CELERY_BROKER_URL,"
        " process.env.CELERY_BROKER_URL);\n"
        "  await c.isReady();\n"
        "  const r = c.createTask('backups.create').delay('proj-x', 'db');\n"
        "  await new Promise((done) => setImmediate(done));\n"
        "  console.log(JSON.stringify({task_id: r.taskId, job_id: null}));\n"
        "  await c.disconnect();\n"
        "})();\n"
    )
    sent = enqueue(stack, script)
    deadline = time.monotonic() + 20
    needle = f"Task backups.create[{sent['task_id']}] raised unexpected: TypeError"
    while needle not in worker.log():
        assert time.monotonic() < deadline, worker.log()[-3000:]
        time.sleep(0.1)
    assert worker.proc.poll() is None
    with stack.database.engine.connect() as conn:
        count = conn.execute(
            text("SELECT count(*) FROM control_plane.jobs WHERE project_id = 'proj-x'")
        ).scalar_one()
    assert count == 0
