"""The Procfile's processes under honcho: worker, beat and Flower, with a real backup.

Flower must answer 401 without credentials (except /metrics and /healthcheck, which Flower never
protects), list the worker and the finished tasks with credentials, and show no secret: not the
bot token, not a database password, not the age identity, not its own password.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from pyrage import x25519

from tests.acceptance.conftest import TOKEN, Stack
from tests.support import services, workers

ROOT = Path(__file__).resolve().parents[3]
VENV_BIN = Path(sys.executable).parent
DB_PASSWORD = "db-Pass-" + uuid.uuid4().hex  # trust auth accepts and ignores it
STEPS = ("backups.create", "backups.dump", "backups.upload", "backups.record")
START_TIMEOUT = 60  # seconds
# Every GET route of Flower 2.2 without a path parameter, plus two with one.
PROBED = (
    "/",
    "/workers",
    "/tasks",
    "/tasks/datatable",
    "/broker",
    "/api/workers",
    "/api/tasks",
    "/api/task/types",
    "/api/queues/length",
    "/api/task/info/x",
    "/api/task/result/x",
    "/worker/x",
    "/task/x",
    "/metrics",
    "/healthcheck",
    "/login",
    "/logout",
)


@dataclass
class Procfile:
    """`honcho start` running the repository's Procfile, in a directory of its own."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    url: str
    auth: tuple[str, str]
    secrets: tuple[str, ...]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, *, authed: bool = True) -> requests.Response:
        return requests.get(self.url + path, auth=self.auth if authed else None, timeout=10)

    def stop(self) -> None:
        """SIGTERM to honcho, which stops its processes; SIGKILL them all after 30 s."""
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            for pid in reversed(descendants(self.proc.pid)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def procfile(stack: Stack, tmp_path: Path) -> Iterator[Procfile]:
    identity = x25519.Identity.generate()
    identity_file = tmp_path / "age-identity.txt"
    identity_file.write_text(str(identity) + "\n")
    password = "fl-" + uuid.uuid4().hex
    port = services.free_port()
    database = stack.database.engine.url.set(password=DB_PASSWORD)
    env = stack.env(
        DATABASE_URL=database.render_as_string(hide_password=False),
        SOURCE_DATABASE_URL=f"postgresql://postgres:{DB_PASSWORD}@127.0.0.1:5432/postgres",
        BACKUP_AGE_RECIPIENTS=str(identity.to_public()),
        BACKUP_AGE_IDENTITY_FILE=str(identity_file),
        FLOWER_BASIC_AUTH=f"ops:{password}",
        FLOWER_PORT=str(port),
        PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
        LOG_JSON="true",
    )
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    log_path = tmp_path / "honcho.log"
    args = [str(VENV_BIN / "honcho"), "-f", str(ROOT / "Procfile"), "-d", str(run_dir)]
    args += ["-e", str(run_dir / "no.env"), "--no-colour", "start"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            args, env=env, cwd=run_dir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    secrets = (TOKEN, TOKEN.split(":", 1)[1], DB_PASSWORD, str(identity), password)
    running = Procfile(proc, log_path, f"http://127.0.0.1:{port}", ("ops", password), secrets)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not ("ready." in running.log() and "beat: Starting" in running.log()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the Procfile did not start:\n{running.log()}")
            time.sleep(0.2)
        while True:
            try:
                if running.get("/healthcheck", authed=False).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"Flower did not answer:\n{running.log()}")
            time.sleep(0.2)
        yield running
    finally:
        running.stop()


def descendants(root: int) -> list[int]:
    """`root` and every process below it (honcho gives each child a session)."""
    return [root, *workers.descendants(root)]


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def assert_json_job_events(log: str, job_id: str) -> None:
    """With LOG_JSON=true the worker writes one JSON object per line, job events included."""
    # honcho pads each process name to the longest one's width ("worker.1    | ...").
    found = (re.match(r"\S+ worker\.1 +\| (\{.*)$", line) for line in log.splitlines())
    lines = [match.group(1) for match in found if match]
    assert lines
    events = [json.loads(line) for line in lines]
    assert all({"time", "level", "logger", "message"} <= event.keys() for event in events)
    mine = [e for e in events if e.get("job_id") == job_id and "event" in e]
    done = {e["stage"]: e for e in mine if e["event"] == "job.succeeded"}
    assert set(done) == {"create", "dump", "upload", "record"}
    for event in done.values():
        assert event["project_id"] == "proj-flower"
        assert isinstance(event["duration_s"], float)
        assert event["task"].startswith("backups.")


def wait_for(check: object, timeout: float = 30) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.3)


def test_flower_is_closed_without_credentials_and_shows_the_backup_without_secrets(
    stack: Stack, procfile: Procfile
) -> None:
    statuses = {path: procfile.get(path, authed=False).status_code for path in PROBED}
    # Flower protects neither /metrics nor /healthcheck: keep its port on an internal network.
    # /logout is a static page and /login exists only with OAuth (--auth); the rest is closed.
    unprotected = {"/metrics": 200, "/healthcheck": 200, "/logout": 200, "/login": 404}
    assert statuses == {path: unprotected.get(path, 401) for path in PROBED}
    assert procfile.get("/api/workers", authed=False).status_code == 401
    assert procfile.get("/api/tasks", authed=False).status_code == 401
    wrong = requests.get(procfile.url + "/api/tasks", auth=("ops", "wrong"), timeout=10)
    assert wrong.status_code == 401
    posted = requests.post(
        procfile.url + "/api/task/async-apply/backups.create", json={}, timeout=10
    )
    assert posted.status_code in (401, 403)

    job_id = stack.send(project_id="proj-flower", database=stack.source_db, caption="via flower")
    row = stack.wait_job(job_id)
    assert row["status"] == "completed", (row["error"], procfile.log()[-4000:])

    def tasks_listed() -> bool:
        tasks = procfile.get("/api/tasks").json()
        finished = {t["name"] for t in tasks.values() if t.get("state") == "SUCCESS"}
        return set(STEPS) <= finished

    wait_for(tasks_listed)
    workers: dict[str, Any] = {}  # Flower's JSON answer

    def workers_inspected() -> bool:
        # Flower inspects the workers once as it starts, maybe before they listen, and a
        # refresh during that inspection joins it and gets nothing: ask again until both answer.
        nonlocal workers
        workers = procfile.get("/api/workers?refresh=1").json()
        return len(workers) == 2

    wait_for(workers_inspected)
    # The Procfile's two workers: `worker` (asked-for work) and `scheduled`.
    assert sorted(name.partition("@")[0] for name in workers) == ["celery", "scheduled"]
    node = next(name for name in workers if name.startswith("celery@"))
    for found in workers.values():
        assert found["stats"]["pool"]["max-concurrency"] == 2
        assert "backups.create" in found["registered"]

    tasks = procfile.get("/api/tasks").json()
    bodies = [procfile.get("/api/workers?refresh=1").text, procfile.get("/api/tasks").text]
    for task_id, task in tasks.items():
        # The Procfile's beat adds its periodic tasks (schedules.dispatch...) once a minute.
        if task["name"] in STEPS:
            assert job_id in str(task["result"])
        bodies.append(procfile.get(f"/api/task/info/{task_id}").text)
        bodies.append(procfile.get(f"/task/{task_id}").text)
    for path in ("/", "/workers", f"/worker/{node}", "/tasks", "/broker", "/api/task/types"):
        response = procfile.get(path)
        assert response.status_code == 200, path
        bodies.append(response.text)
    bodies.append(procfile.get("/api/queues/length").text)
    table = procfile.get(
        "/tasks/datatable?draw=1&start=0&length=100&search[value]=&order[0][column]=0"
        "&order[0][dir]=asc&columns[0][data]=name"
    )
    assert table.status_code == 200
    assert "backups.upload" in table.text
    bodies.append(table.text)
    metrics = procfile.get("/metrics", authed=False).text
    bodies.append(metrics)
    assert 'task="backups.upload"' in metrics
    assert "flower_events_total" in metrics
    assert_json_job_events(procfile.log(), job_id)
    for body in bodies:
        for secret in procfile.secrets:
            assert secret not in body
    for secret in procfile.secrets:
        assert secret not in procfile.log()


def test_no_process_of_the_procfile_carries_a_secret_on_its_command_line(
    procfile: Procfile,
) -> None:
    command_lines = [cmdline(pid) for pid in descendants(procfile.proc.pid)]
    assert any(" flower " in line for line in command_lines), command_lines
    assert any(" worker " in line for line in command_lines), command_lines
    assert any(" beat " in line for line in command_lines), command_lines
    for line in command_lines:
        for secret in procfile.secrets:
            assert secret not in line
    credentials = base64.b64encode(b"ops:" + procfile.auth[1].encode()).decode()
    assert credentials not in procfile.log()
