"""The `backup-worker` command's failures, run as an operator runs it: one line, its status.

Broker down, control plane down, a control plane without its tables, unknown and ambiguous id
prefixes, and --version. No worker runs: none of these gets as far as one.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from importlib import metadata
from pathlib import Path

from sqlalchemy import text

from db.queries import jobs as db_jobs
from tests.acceptance.conftest import Stack
from tests.support import scratch
from worker.cli import common

CLI = str(Path(sys.executable).with_name("backup-worker"))
PASSWORD = "never-shown-pa55word"


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The single line on stderr (nothing on stdout), without its `error: `."""
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    return lines[0].removeprefix("error: ")


def refusal(done: subprocess.CompletedProcess[str]) -> str:
    """The --json refusal's `error`: one object on stdout, its exit_code the process's."""
    assert done.stderr == ""
    [line] = done.stdout.splitlines()
    payload = json.loads(line)
    assert payload == {"error": payload["error"], "exit_code": done.returncode, "status": "error"}
    return str(payload["error"])


def test_broker_down_is_one_line_and_leaves_no_pending_job(stack: Stack) -> None:
    port = closed_port()
    env = stack.env(CELERY_BROKER_URL=f"redis://:{PASSWORD}@127.0.0.1:{port}/7")
    args = ("backup", "--project", "p-down", "--database", stack.source_db)
    expected = f"cannot reach the broker at redis://127.0.0.1:{port}/7 (CELERY_BROKER_URL): "
    expected += "connection refused"

    done = run(env, *args, "--json")
    assert done.returncode == common.EXIT_UNAVAILABLE
    assert refusal(done) == expected
    done = run(env, *args)
    assert done.returncode == common.EXIT_UNAVAILABLE
    assert one_line(done) == expected

    with stack.database.engine.connect() as conn:
        rows = conn.execute(text("SELECT status, error FROM control_plane.jobs")).all()
    assert len(rows) == 2
    assert {status for status, _ in rows} == {"failed"}
    assert all(error.startswith("not queued: sending backups.create failed") for _, error in rows)
    assert PASSWORD not in str(rows)


def test_database_down_is_one_line_without_the_password(stack: Stack) -> None:
    port = closed_port()
    env = stack.env(DATABASE_URL=f"postgresql+psycopg2://backup:{PASSWORD}@127.0.0.1:{port}/cp")
    done = run(env, "jobs", "list")
    assert done.returncode == common.EXIT_UNAVAILABLE
    assert one_line(done) == (
        f"cannot reach the control plane at 127.0.0.1:{port}/cp (DATABASE_URL): connection refused"
    )
    done = run(env, "backup", "--project", "p", "--database", stack.source_db, "--json")
    assert done.returncode == common.EXIT_UNAVAILABLE
    assert "cannot reach the control plane" in refusal(done)
    assert PASSWORD not in done.stdout


def test_a_control_plane_without_tables_says_to_run_migrate(stack: Stack) -> None:
    with scratch.database() as url:
        done = run(stack.env(DATABASE_URL=url), "jobs", "list")
        assert done.returncode == common.EXIT_ERROR
        line = one_line(done)
        assert line.endswith("(DATABASE_URL) has no tables yet: run `backup-worker migrate`")
        migrated = run(stack.env(DATABASE_URL=url), "migrate", "--json")
        assert migrated.returncode == 0, migrated.stderr
        assert json.loads(run(stack.env(DATABASE_URL=url), "jobs", "list", "--json").stdout) == {
            "jobs": []
        }


def make_jobs(stack: Stack, *ids: str) -> None:
    with stack.database.transaction() as session:
        for job_id in ids:
            db_jobs.create_job(
                session,
                job_id=uuid.UUID(job_id),
                type="backup",
                project_id="p-ids",
                payload={},
                celery_task_id=None,
            )


def test_id_prefixes_unique_unknown_and_ambiguous(stack: Stack) -> None:
    first, second = "f52ae7a8-c5d1-4b6e-9a0f-0123456789ab", "f52ae7b0-0000-4000-8000-000000000001"
    make_jobs(stack, first, second)
    env = stack.env()

    shown = run(env, "jobs", "show", "f52ae7a8", "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["id"] == first

    unknown = run(env, "jobs", "show", "f52ae7a9")
    assert unknown.returncode == common.EXIT_ERROR
    assert one_line(unknown) == "no job id starts with f52ae7a9"
    unknown = run(env, "verify", "f52ae7a8", "--json")
    assert unknown.returncode == common.EXIT_ERROR
    assert refusal(unknown) == "no backup id starts with f52ae7a8"

    ambiguous = run(env, "jobs", "show", "f52ae7")
    assert ambiguous.returncode == common.EXIT_ERROR
    assert one_line(ambiguous) == (
        f"job id prefix f52ae7 is ambiguous: {first}, {second} (give more digits)"
    )
    ambiguous = run(env, "restore", "undo", "F52AE7", "--json")
    assert ambiguous.returncode == common.EXIT_ERROR
    assert "is ambiguous" in refusal(ambiguous)


def test_version_prints_the_installed_version() -> None:
    done = run({}, "--version")
    assert done.returncode == 0
    assert done.stdout == f"backup-worker, version {metadata.version('backup-worker')}\n"
