"""Helpers shared by the restore acceptance tests (this module holds no test)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.acceptance.conftest import Stack
from tests.support.sources import drop_database
from tests.support.stack import job_row
from worker.contract import tasks
from worker.jobs import intake

PART_SIZE = "65536"  # the smallest allowed: the test artifact spans many parts
PG_DUMP = ("pg_dump", "-h", "127.0.0.1", "-U", "postgres", "-Fp", "--no-owner")
_HEADER_COMMENTS = ("-- Dumped from database version", "-- Dumped by pg_dump version")


def dump_text(database: str, *extra: str) -> str:
    """`pg_dump -Fp --no-owner` of `database` without its version header comments."""
    done = subprocess.run(
        [*PG_DUMP, "--restrict-key=compare", *extra, database],
        capture_output=True,
        check=True,
    )
    lines = done.stdout.decode("utf-8").splitlines()
    return "\n".join(line for line in lines if not line.startswith(_HEADER_COMMENTS))


def assert_same_database(source: str, restored: str) -> None:
    assert dump_text(restored, "--schema-only") == dump_text(source, "--schema-only")
    assert dump_text(restored) == dump_text(source)


def age_keygen(path: Path) -> str:
    """A new key pair made by Debian's age-keygen; returns the public key."""
    subprocess.run(["age-keygen", "-o", str(path)], capture_output=True, check=True)
    for line in path.read_text().splitlines():
        if line.startswith("# public key: "):
            return line.removeprefix("# public key: ")
    raise AssertionError("age-keygen wrote no public key")


def backup_row(stack: Stack, column: str, value: object) -> dict[str, object]:
    """The backups row whose `column` (id or job_id) is `value`."""
    query = f"SELECT * FROM control_plane.backups WHERE {column} = :value"
    with stack.database.engine.connect() as conn:
        return dict(conn.execute(text(query), {"value": value}).mappings().one())


def make_backup(stack: Stack, database: str, project: str = "proj-restore") -> dict[str, object]:
    job_id = stack.send(project_id=project, database=database)
    row = stack.wait_job(job_id)
    assert row["status"] == "completed", row["error"]
    return backup_row(stack, "job_id", job_id)


def send_restore(
    stack: Stack,
    *,
    backup_id: str,
    target_database: str,
    job_id: str | None = None,
    project: str | None = None,
) -> str:
    """Enqueue backups.restore as the api-gateway does; returns the job id. `project` None:
    the backup's own."""
    given = None if job_id is None else uuid.UUID(job_id)
    asking = project or project_of(stack, backup_id)
    return send(stack, tasks.RestoreBackup(asking, uuid.UUID(backup_id), target_database, given))


def send_verify(stack: Stack, *, backup_id: str, project: str | None = None) -> str:
    asking = project or project_of(stack, backup_id)
    return send(stack, tasks.VerifyBackup(asking, uuid.UUID(backup_id)))


def project_of(stack: Stack, backup_id: object) -> str:
    """The project a backup belongs to (the gateway knows it: it asks for its own)."""
    return str(backup_row(stack, "id", str(backup_id))["project_id"])


def send(stack: Stack, message: tasks.RestoreBackup | tasks.VerifyBackup) -> str:
    task_id = stack.publisher.send(message)
    return str(message.job_id or intake.job_id_for_task(task_id))


def follow(stack: Stack, job_id: str, timeout: float = 120) -> list[tuple[str, str | None, int]]:
    """Every distinct (status, stage, progress) the job showed, until it finished."""
    seen: list[tuple[str, str | None, int]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = job_row(stack.database, job_id)
        if row is not None:
            stage = None if row["stage"] is None else str(row["stage"])
            point = (str(row["status"]), stage, int(str(row["progress"])))
            if not seen or seen[-1] != point:
                seen.append(point)
            if row["status"] in ("completed", "failed", "cancelled"):
                return seen
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} did not finish: {seen[-3:]}")


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    program = str(Path(sys.executable).parent / "backup-worker")
    return subprocess.run(
        [program, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def targets() -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        drop_database(name)


def new_target(targets: list[str], label: str = "tgt") -> str:
    name = f"bw_{label}_{uuid.uuid4().hex[:8]}"
    targets.append(name)
    return name
