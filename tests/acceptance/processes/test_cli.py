"""The `backup-worker` command against a real worker: exit statuses and --json shapes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.acceptance.conftest import TOKEN, Stack

CLI = str(Path(sys.executable).with_name("backup-worker"))


def run(
    env: dict[str, str], *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [CLI, *args], env=env, input=stdin, capture_output=True, timeout=120, check=False
    )


def test_backup_wait_exits_zero_only_when_completed(stack: Stack) -> None:
    worker = stack.start_worker()
    ok = run(
        worker.env,
        "backup",
        "--project",
        "p-cli",
        "--database",
        stack.source_db,
        "--caption",
        "from the CLI",
        "--expires-in-days",
        "3",
        "--wait",
        "--json",
    )
    assert ok.returncode == 0, ok.stderr.decode()
    outcome = json.loads(ok.stdout)
    assert outcome["status"] == "completed"
    assert set(outcome["backup"]) >= {"id", "size_bytes", "sha256", "part_count", "parts"}
    assert set(outcome["backup"]["parts"][0]) >= {
        "file_id",
        "file_unique_id",
        "message_id",
        "size_bytes",
        "sha256",
    }

    failed = run(
        worker.env, "backup", "--project", "p-cli", "--database", "missing_db", "--wait", "--json"
    )
    assert failed.returncode == 1
    outcome = json.loads(failed.stdout)
    assert outcome["status"] == "failed"
    assert "missing_db" in outcome["error"]

    shown = run(worker.env, "jobs", "show", outcome["job_id"], "--json")
    assert json.loads(shown.stdout)["status"] == "failed"
    listed = json.loads(run(worker.env, "backups", "list", "--project", "p-cli", "--json").stdout)
    assert len(listed["backups"]) == 1
    after = run(worker.env, "backups", "list", "--before", listed["backups"][0]["id"], "--json")
    assert json.loads(after.stdout) == {"backups": []}
    unknown = run(worker.env, "backups", "list", "--before", outcome["job_id"], "--json")
    assert unknown.returncode == 2
    assert "does not exist" in json.loads(unknown.stdout)["error"]
    stats = json.loads(run(worker.env, "backups", "stats", "--json").stdout)
    assert stats["total"] == 1
    assert TOKEN.split(":")[1] not in ok.stdout.decode() + failed.stdout.decode()


def test_bad_input_is_refused_before_anything_is_queued(stack: Stack) -> None:
    env = stack.env()
    refused = run(env, "backup", "--project", "p", "--database", "d" * 64, "--json")
    assert refused.returncode == 2
    assert "longer than 63 bytes" in json.loads(refused.stdout)["error"]
    broken = run(stack.env(BACKUP_PART_SIZE="lots"), "jobs", "list")
    assert broken.returncode == 2
    assert "BACKUP_PART_SIZE" in broken.stderr.decode()


def test_batch_reports_which_backups_succeeded_and_which_failed(stack: Stack) -> None:
    worker = stack.start_worker()
    requests = [
        {"project_id": "p-a", "database": stack.source_db},
        {"project_id": "p-b", "database": "no_such_db"},
        {"project_id": "p-c", "database": "x" * 64},  # no server can hold it
    ]
    done = run(worker.env, "batch", "-", "--wait", "--json", stdin=json.dumps(requests).encode())
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert [item["status"] for item in report["results"]] == ["completed", "failed", "refused"]
    assert report["succeeded"] == [0]
    assert report["failed"] == [1, 2]


def test_send_only_from_stdin_returns_the_telegram_ids(stack: Stack) -> None:
    env = stack.env(BACKUP_PART_SIZE="100000")
    data = b"a dump made elsewhere\n" * 50_000
    done = run(
        env,
        "send",
        "-",
        "--project",
        "p-send",
        "--name",
        "elsewhere.sql",
        "--record",
        "--json",
        stdin=data,
    )
    assert done.returncode == 0, done.stderr.decode()
    outcome = json.loads(done.stdout)
    assert outcome["part_count"] == len(outcome["parts"]) >= 1
    assert outcome["backup_id"]
    assert all(part["file_id"] for part in outcome["parts"])
