"""A wait for Telegram's rate holds no pool slot (docs/fleet.md, "Waiting without a thread").

One worker from the Procfile with a single pool thread, and a group budget of 1 message per
minute: a backup's upload then waits about a minute for its slot. Meanwhile another job's steps,
which send nothing, must run on that one thread at once, not after the slot.
"""

from __future__ import annotations

import time
import uuid

from sqlalchemy import text

from tests.acceptance.conftest import Stack
from tests.acceptance.restore.support import send_verify

WAIT = 60  # seconds a job may take here


def _waiting(stack: Stack, job_id: str) -> str | None:
    with stack.database.engine.connect() as conn:
        return conn.execute(
            text("SELECT result->>'waiting' FROM control_plane.jobs WHERE id = :id"),
            {"id": job_id},
        ).scalar_one_or_none()


def test_a_short_job_runs_while_an_upload_waits_for_its_slot(stack: Stack) -> None:
    stack.start_worker(
        "--concurrency=1",
        "-n",
        f"slots-{uuid.uuid4().hex[:6]}@%h",
        TELEGRAM_GROUP_PER_MINUTE="1",
    )
    first = stack.wait_job(stack.send(project_id="proj-first", database=stack.source_db), WAIT)
    assert first["status"] == "completed", first["error"]
    backup_id = str(first["result"]["backup"]["id"])  # type: ignore[index]
    # The group's one message of this minute is spent: this backup's part waits ~60 s.
    paced = stack.send(project_id="proj-paced", database=stack.source_db)
    deadline = time.monotonic() + WAIT
    while (note := _waiting(stack, paced)) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert note is not None
    assert "for Telegram's rate limit" in note, note
    # A verification (download and check: nothing sent) on the worker's only thread.
    verified = stack.wait_job(send_verify(stack, backup_id=backup_id), WAIT)
    assert verified["status"] == "completed", verified["error"]
    # It finished while the other job still waited for its slot: no thread slept for it.
    assert len(stack.standin.requests("sendDocument")) == 1
    row = stack.job(paced)
    assert row is not None
    assert row["status"] == "running"
