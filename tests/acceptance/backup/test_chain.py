"""The backup chain end to end: real worker, Redis, PostgreSQL, pg_dump and the Bot API stand-in."""

from __future__ import annotations

import hashlib
import subprocess
import time
import uuid
from pathlib import Path

from sqlalchemy import text

from tests.acceptance.conftest import CHAT, TOKEN, Stack
from tests.support.stack import job_row
from worker.telegram.client import TelegramClient


def backups_of(stack: Stack, job_id: str) -> list[dict[str, object]]:
    with stack.database.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM control_plane.backups WHERE job_id = :id"), {"id": job_id}
        ).mappings()
        return [dict(row) for row in rows]


def parts_of(stack: Stack, backup_id: object) -> list[dict[str, object]]:
    with stack.database.engine.connect() as conn:
        rows = conn.execute(
            text('SELECT * FROM control_plane.backup_parts WHERE backup_id = :id ORDER BY "index"'),
            {"id": backup_id},
        ).mappings()
        return [dict(row) for row in rows]


def telegram_calls(stack: Stack, method: str) -> list[dict[str, object]]:
    return [entry for entry in stack.standin.requests() if entry["method"] == method]


def spool_files(stack: Stack) -> list[Path]:
    root = stack.tmp / "spool"
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def assert_no_token(stack: Stack, *texts: object) -> None:
    for worker in stack.workers:
        assert TOKEN not in worker.log()
        assert TOKEN.split(":", 1)[1] not in worker.log()
    for value in texts:
        assert TOKEN.split(":", 1)[1] not in str(value)


def test_backup_runs_the_chain_with_progress_and_records_every_part(stack: Stack) -> None:
    stack.start_worker(BACKUP_PART_SIZE="262144")
    job_id = stack.send(project_id="proj-1", database=stack.source_db, caption="nightly")
    seen: list[tuple[str, str | None, int]] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        row = job_row(stack.database, job_id)
        if row is not None:
            stage = None if row["stage"] is None else str(row["stage"])
            point = (str(row["status"]), stage, int(str(row["progress"])))
            if not seen or seen[-1] != point:
                seen.append(point)
            if row["status"] in ("completed", "failed"):
                break
        time.sleep(0.01)
    row = stack.wait_job(job_id)
    assert row["status"] == "completed", row["error"]
    stages = [stage for _, stage, _ in seen if stage]
    order = {"dump": 0, "upload": 1, "record": 2}
    assert [order[s] for s in stages] == sorted(order[s] for s in stages)
    assert "upload" in stages
    progress = [value for _, _, value in seen]
    assert progress == sorted(progress)
    assert progress[-1] == 100
    assert row["heartbeat_at"] is not None

    (backup,) = backups_of(stack, job_id)
    parts = parts_of(stack, backup["id"])
    assert backup["part_count"] == len(parts) >= 2
    assert all(int(str(part["size_bytes"])) <= 262144 for part in parts)
    assert sum(int(str(p["size_bytes"])) for p in parts) == backup["size_bytes"]
    sent = telegram_calls(stack, "sendDocument")
    assert len(sent) == len(parts)
    captions = [str(m["caption"]) for m in stack.standin.messages()]
    count = len(parts)
    # Parts sent while the dump still ran cannot know the total; the last one always gives it.
    for number, caption in enumerate(captions, start=1):
        assert f"part {number}/{count}" in caption or f"part {number}, more follow" in caption
        assert "nightly" in caption
    assert f"part {count}/{count}" in captions[-1]
    assert spool_files(stack) == []
    assert_no_token(stack, row)


def test_parts_joined_have_the_recorded_checksum_and_restore_lists_them(stack: Stack) -> None:
    stack.start_worker(BACKUP_PART_SIZE="200000")
    job_id = stack.send(project_id="proj-2", database=stack.source_db)
    row = stack.wait_job(job_id)
    assert row["status"] == "completed", row["error"]
    (backup,) = backups_of(stack, job_id)
    joined = stack.tmp / "joined.zst"
    with TelegramClient(TOKEN, stack.standin.url) as client, joined.open("wb") as sink:
        for part in parts_of(stack, backup["id"]):
            client.download_file(str(part["file_id"]), sink)
    digest = hashlib.sha256(joined.read_bytes()).hexdigest()
    assert digest == backup["sha256"]
    listing = subprocess.run(
        f"zstd -dc {joined} | pg_restore -l",
        shell=True,
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert "TABLE public items" in listing
    assert "VIEW public recent" in listing


def test_flood_control_is_waited_out_for_at_least_retry_after(stack: Stack) -> None:
    stack.start_worker()
    stack.standin.set_faults(script=["429:2"], methods=["sendDocument"])
    job_id = stack.send(project_id="proj-3", database=stack.source_db)
    row = stack.wait_job(job_id)
    assert row["status"] == "completed", row["error"]
    calls = telegram_calls(stack, "sendDocument")
    assert [call["status"] for call in calls] == [429, 200]
    # From the refusal's answer to the retry's arrival (its answer): the arrival gate may start
    # the retry's upload a little before its slot.
    answered = [float(str(call["time"])) + float(str(call["duration"])) for call in calls]
    assert answered[1] - answered[0] >= 2.0


def test_bad_gateway_and_dropped_connections_are_retried_to_success(stack: Stack) -> None:
    stack.start_worker()
    stack.standin.set_faults(script=["502", "drop", "502"], methods=["sendDocument"])
    job_id = stack.send(project_id="proj-4", database=stack.source_db)
    row = stack.wait_job(job_id)
    assert row["status"] == "completed", row["error"]
    assert len(telegram_calls(stack, "sendDocument")) == 4
    assert len(backups_of(stack, job_id)) == 1


def test_wrong_token_fails_at_once_without_leaking_it(stack: Stack) -> None:
    wrong = "999999:WRONG-token-zzzzzzzzzzzzzzzzzzzzzzzzzzzz"
    worker = stack.start_worker(TELEGRAM_BOT_TOKEN=wrong)
    job_id = stack.send(project_id="proj-5", database=stack.source_db)
    row = stack.wait_job(job_id)
    assert row["status"] == "failed"
    assert "TELEGRAM_BOT_TOKEN" in str(row["error"])
    assert len(telegram_calls(stack, "sendDocument")) == 1
    assert backups_of(stack, job_id) == []
    assert spool_files(stack) == []
    assert wrong.split(":", 1)[1] not in worker.log()
    assert wrong.split(":", 1)[1] not in str(row)
    assert worker.proc.poll() is None


def test_unknown_chat_fails_at_once_with_a_clear_error(stack: Stack) -> None:
    worker = stack.start_worker(TELEGRAM_CHAT_ID="-1000000000404")
    job_id = stack.send(project_id="proj-6", database=stack.source_db)
    row = stack.wait_job(job_id)
    assert row["status"] == "failed"
    assert "chat -1000000000404 not found" in str(row["error"])
    assert "TELEGRAM_CHAT_ID" in str(row["error"])
    assert len(telegram_calls(stack, "sendDocument")) == 1
    assert worker.proc.poll() is None
    assert_no_token(stack, row)


def test_missing_database_fails_before_anything_is_sent(stack: Stack) -> None:
    worker = stack.start_worker()
    job_id = stack.send(project_id="proj-7", database="no_such_database")
    row = stack.wait_job(job_id)
    assert row["status"] == "failed"
    assert 'database "no_such_database" does not exist' in str(row["error"])
    assert row["attempts"] == 1
    assert telegram_calls(stack, "sendDocument") == []
    assert backups_of(stack, job_id) == []
    assert spool_files(stack) == []
    # The worker is still serving: the next job completes.
    second = stack.send(project_id="proj-7", database=stack.source_db)
    assert stack.wait_job(second)["status"] == "completed"
    assert worker.proc.poll() is None


def test_the_same_message_twice_gives_one_job_and_one_backup(stack: Stack) -> None:
    stack.start_worker()
    task_id = str(uuid.uuid4())
    first = stack.send(project_id="proj-8", database=stack.source_db, task_id=task_id)
    second = stack.send(project_id="proj-8", database=stack.source_db, task_id=task_id)
    assert first == second
    time.sleep(1)
    with stack.database.engine.connect() as conn:
        ids = (
            conn.execute(text("SELECT id FROM control_plane.jobs WHERE project_id = 'proj-8'"))
            .scalars()
            .all()
        )
    assert len(ids) == 1
    row = stack.wait_job(str(ids[0]))
    assert row["status"] == "completed", row["error"]
    time.sleep(1)  # give a duplicate chain the time to show itself
    assert len(backups_of(stack, str(ids[0]))) == 1
    assert len(telegram_calls(stack, "sendDocument")) == 1


def test_a_gateway_job_id_sent_twice_gives_one_backup(stack: Stack) -> None:
    stack.start_worker()
    job_id = str(uuid.uuid4())
    with stack.database.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO control_plane.jobs (id, type, project_id, status) "
                "VALUES (:id, 'backup', 'proj-9', 'pending')"
            ),
            {"id": job_id},
        )
    for _ in range(2):
        stack.send(project_id="proj-9", database=stack.source_db, job_id=job_id)
    row = stack.wait_job(job_id)
    assert row["status"] == "completed", row["error"]
    time.sleep(1)
    assert len(backups_of(stack, job_id)) == 1
    assert str(CHAT) == str(backups_of(stack, job_id)[0]["chat_id"])
