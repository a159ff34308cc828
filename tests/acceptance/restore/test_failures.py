"""Restore and verify when things go wrong, and from the command line, with real workers."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pyrage
from sqlalchemy import text

from tests.acceptance.conftest import TOKEN, Stack
from tests.acceptance.restore.support import (
    PART_SIZE,
    assert_same_database,
    cli,
    follow,
    make_backup,
    new_target,
    send_restore,
    send_verify,
    targets,
)
from tests.support.sources import database_exists
from tests.support.stack import job_row
from worker.contract import tasks
from worker.jobs import intake

__all__ = ["targets"]  # the fixture, used by name


def write_key(path: Path) -> str:
    key = pyrage.x25519.Identity.generate()
    path.write_text(f"# created by the test\n{key}\n")
    return str(key.to_public())


def parts_of(stack: Stack, backup_id: object) -> list[dict[str, object]]:
    with stack.database.engine.connect() as conn:
        rows = conn.execute(
            text('SELECT * FROM control_plane.backup_parts WHERE backup_id = :id ORDER BY "index"'),
            {"id": backup_id},
        ).mappings()
        return [dict(row) for row in rows]


def flip_a_byte(stack: Stack, sha256: object) -> None:
    """Corrupt the stand-in's stored copy of one part (files are kept by content hash)."""
    stored = stack.standin.data_dir / "files" / str(sha256)
    data = bytearray(stored.read_bytes())
    data[len(data) // 3] ^= 0x20
    stored.write_bytes(bytes(data))


def test_a_corrupted_part_fails_restore_and_verify_before_pg_restore(
    stack: Stack, targets: list[str], tmp_path: Path
) -> None:
    key = tmp_path / "key.txt"
    worker = stack.start_worker(
        BACKUP_PART_SIZE=PART_SIZE,
        BACKUP_AGE_RECIPIENTS=write_key(key),
        BACKUP_AGE_IDENTITY_FILE=str(key),
    )
    backup = make_backup(stack, stack.source_db)
    parts = parts_of(stack, backup["id"])
    assert len(parts) >= 3
    flip_a_byte(stack, parts[1]["sha256"])
    where = f"part 2 of {len(parts)} is corrupted"

    target = new_target(targets)
    job_id = send_restore(stack, backup_id=str(backup["id"]), target_database=target)
    seen = follow(stack, job_id)
    row = job_row(stack.database, job_id)
    assert row is not None
    assert row["status"] == "failed"
    assert where in str(row["error"])
    assert "restore" not in {stage for _, stage, _ in seen}
    assert not database_exists(target)  # created only right before pg_restore: never reached

    job_id = send_verify(stack, backup_id=str(backup["id"]))
    row = stack.wait_job(job_id)
    assert row["status"] == "failed"
    assert where in str(row["error"])
    with stack.database.engine.connect() as conn:
        status = conn.execute(
            text("SELECT verify_status FROM control_plane.backups WHERE id = :id"),
            {"id": backup["id"]},
        ).scalar_one()
    assert status == "failed"
    assert not any((stack.tmp / "spool").rglob("artifact"))
    # The worker keeps serving: an intact backup verifies.
    intact = make_backup(stack, stack.source_db)
    assert stack.wait_job(send_verify(stack, backup_id=str(intact["id"])))["status"] == "completed"
    assert worker.proc.poll() is None


def test_a_wrong_key_gives_a_clear_error_and_no_target(
    stack: Stack, targets: list[str], tmp_path: Path
) -> None:
    owner, stranger = tmp_path / "owner.txt", tmp_path / "stranger.txt"
    recipient = write_key(owner)
    write_key(stranger)
    worker = stack.start_worker(
        BACKUP_AGE_RECIPIENTS=recipient, BACKUP_AGE_IDENTITY_FILE=str(stranger)
    )
    backup = make_backup(stack, stack.source_db)
    target = new_target(targets)
    row = stack.wait_job(send_restore(stack, backup_id=str(backup["id"]), target_database=target))
    assert row["status"] == "failed"
    error = str(row["error"])
    assert "BACKUP_AGE_IDENTITY_FILE: none of its keys can decrypt this backup" in error
    assert recipient[:16] in error
    assert not database_exists(target)
    secret = stranger.read_text().splitlines()[1]
    assert secret not in error
    assert secret not in worker.log()
    assert worker.proc.poll() is None


def test_unencrypted_backup_restores_from_the_command_line_without_a_key(
    stack: Stack, targets: list[str]
) -> None:
    worker = stack.start_worker(BACKUP_PART_SIZE=PART_SIZE)
    assert "BACKUP_AGE_IDENTITY_FILE" not in worker.env
    backup = make_backup(stack, stack.source_db)
    assert backup["encrypted"] is False
    backup_id = str(backup["id"])
    target = new_target(targets)

    done = cli(worker.env, "restore", backup_id, "--target-database", target, "--wait", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["status"] == "completed"
    assert outcome["restore"]["target_database"] == target
    assert outcome["restore"]["created"] is True
    assert_same_database(stack.source_db, target)

    again = ["restore", backup_id, "--target-database", target, "--wait", "--json"]
    done = cli(worker.env, *again)
    assert done.returncode == 1
    assert "exists and is not empty" in json.loads(done.stdout)["error"]
    done = cli(worker.env, *again, "--clean")
    assert done.returncode == 0, done.stdout + done.stderr
    assert_same_database(stack.source_db, target)

    done = cli(worker.env, "restore", backup_id, "--target-database", stack.source_db, "--json")
    assert done.returncode == 2
    assert "refusing to restore into" in json.loads(done.stdout)["error"]


def test_restore_messages_are_idempotent_and_refusals_land_on_the_gateways_row(
    stack: Stack, targets: list[str]
) -> None:
    stack.start_worker()
    backup = make_backup(stack, stack.source_db)
    downloads_before = len(stack.standin.requests("download"))
    target = new_target(targets)
    task_id = str(uuid.uuid4())
    message = tasks.RestoreBackup(str(backup["project_id"]), uuid.UUID(str(backup["id"])), target)
    for _ in range(2):
        stack.publisher.send(message, task_id=task_id)
    job_id = intake.job_id_for_task(task_id)
    row = stack.wait_job(str(job_id))
    assert row["status"] == "completed", row["error"]
    with stack.database.engine.connect() as conn:
        count = conn.execute(
            text("SELECT count(*) FROM control_plane.jobs WHERE type = 'restore'")
        ).scalar_one()
    assert count == 1
    assert len(stack.standin.requests("download")) - downloads_before == backup["part_count"]

    gateway_job = str(uuid.uuid4())
    with stack.database.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO control_plane.jobs (id, type, project_id, status) "
                "VALUES (:id, 'restore', 'proj-restore', 'pending')"
            ),
            {"id": gateway_job},
        )
    send_restore(
        stack, backup_id=str(backup["id"]), target_database=stack.source_db, job_id=gateway_job
    )
    row = stack.wait_job(gateway_job)
    assert row["status"] == "failed"
    assert f"refusing to restore into {stack.source_db}" in str(row["error"])
    assert TOKEN.split(":", 1)[1] not in str(row)
