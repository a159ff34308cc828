"""Hostile and malformed task arguments, as real Celery messages to a real worker.

Every case ends with a clear error in its jobs row, or is refused before a job exists with a log
line; the worker keeps serving, no shell runs, and nothing that cannot succeed is retried.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from chaos import corpus
from tests.acceptance.conftest import Stack
from tests.support.stack import job_row
from worker.contract import publish, tasks
from worker.jobs import intake

# Celery logs a refused task's TypeError with its traceback; these mean a process died.
CRASH_SIGNS = ("WorkerLostError", "exited with", "Unrecoverable error", "Restarting celery worker")


def wait_outcome(stack: Stack, case: corpus.Case, log: str, deadline: float) -> str:
    """The case's jobs error, or its refusal log line; waits until one shows up."""
    while time.monotonic() < deadline:
        row = job_row(stack.database, case.job_id)
        if row is not None and row["status"] in ("completed", "failed"):
            assert row["status"] == "failed", (case.label, row)
            return str(row["error"])
        logs = "".join(w.log() for w in stack.workers) + log
        lines = [line for line in logs.splitlines() if case.task_id in line]
        refused = [line for line in lines if "refused" in line or "TypeError" in line]
        if refused and row is None:
            return "\n".join(refused)
        time.sleep(0.1)
    raise AssertionError(f"{case.label}: no outcome")


@pytest.mark.timeout(120)
def test_every_hostile_message_ends_with_a_clear_error_and_the_worker_keeps_serving(
    stack: Stack,
) -> None:
    corpus.MARKER.unlink(missing_ok=True)
    worker = stack.start_worker()
    cases = corpus.cases()
    corpus.send(cases, stack.publisher)
    deadline = time.monotonic() + 60
    outcomes = {case.label: wait_outcome(stack, case, "", deadline) for case in cases}
    for case in cases:
        outcome = outcomes[case.label]
        assert case.expect in outcome, (case.label, outcome)
        assert (job_row(stack.database, case.job_id) is not None) == case.expect_row, case.label
    assert not corpus.MARKER.exists(), "a shell ran a hostile argument"
    log = worker.log()
    retried = [c.label for c in cases if f"{c.task_id}] retry" in log.lower()]
    # Only a missing gateway row is retried (its insert may still be committing), then refused.
    assert retried == ["job id that does not exist"], retried
    assert stack.standin.requests("sendDocument") == []
    assert worker.proc.poll() is None
    # Refusals are logged as errors, not crashes: no lost pool process.
    assert not [sign for sign in CRASH_SIGNS if sign in log], log[-4000:]
    # ...and the worker still serves a good request.
    good = stack.send(project_id="proj-good", database=stack.source_db)
    assert stack.wait_job(good)["status"] == "completed"
    with stack.database.engine.connect() as conn:
        backups = conn.execute(text("SELECT count(*) FROM control_plane.backups")).scalar_one()
    assert backups == 1


@pytest.mark.timeout(120)
def test_unknown_chat_and_wrong_token_fail_at_once_without_retries(stack: Stack) -> None:
    # -Q: each worker consumes a queue of its own, so each job meets the worker it is meant
    # for; -n: two workers at once on one broker, each a node of its own.
    wrong_chat = stack.start_worker(
        "-n", "badchat@%h", "-Q", "badchat", TELEGRAM_CHAT_ID="-100123123123"
    )
    wrong_token = stack.start_worker(
        "-n",
        "badtoken@%h",
        "-Q",
        "badtoken",
        TELEGRAM_BOT_TOKEN="999999:WRONG-token-ABCdefGHIjklMNOpqrSTUvwx",
    )
    try:
        jobs = {}
        for queue in ("badchat", "badtoken"):
            publisher = publish.Publisher(stack.client.send_task, queue=queue)
            task_id = publisher.send(tasks.CreateBackup(f"proj-{queue}", stack.source_db))
            jobs[queue] = str(intake.job_id_for_task(task_id))
        chat_row = stack.wait_job(jobs["badchat"])
        token_row = stack.wait_job(jobs["badtoken"])
    finally:
        wrong_chat.stop()
        wrong_token.stop()
    assert chat_row["status"] == "failed"
    assert "not found (400)" in str(chat_row["error"]), chat_row["error"]
    assert token_row["status"] == "failed"
    assert "token" in str(token_row["error"]).lower(), token_row["error"]
    assert "WRONG-token" not in str(token_row["error"])
    # One sendDocument each: a refusal is not retried.
    assert len(stack.standin.requests("sendDocument")) == 2
    assert "WRONG-token" not in wrong_token.log()
