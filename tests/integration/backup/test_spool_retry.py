"""A dump that found the spool full is put back for a later attempt, on real PostgreSQL.

worker.backup.ending.retry_later hands the job back the reaper's way (pending, unclaimed) and sends
backups.create again after BACKUP_SPOOL_RETRY_DELAY; worker.backup.ending.fail ends it failed once
its attempts are used. The Celery side is covered by tests/acceptance/faults/test_spool_full.py.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from db import models, session
from db.queries import jobs as db_jobs
from standin.server import BotApiStandin
from tests.support.fake_send import FakeSend
from worker import errors, settings
from worker.backup import ending
from worker.jobs.runtime import Runtime
from worker.scheduling import reaper

TOKEN = "434343:RETRY-token-abcdefghijklmnopqrstuvwxyz0123"
CHAT = -1006666666666
HOST = "w1@host-a"
FULL = "spool directory /spool on w1@host-a is full: the dump of app had written 5 bytes"


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[BotApiStandin]:
    with BotApiStandin(tokens=[TOKEN], chats=[CHAT], data_dir=tmp_path / "standin") as server:
        yield server


@pytest.fixture
def rt(database: session.Database, standin: BotApiStandin, tmp_path: Path) -> Iterator[Runtime]:
    config = settings.Settings(
        _env_file=None,
        telegram_bot_token=TOKEN,
        telegram_chat_id=str(CHAT),
        telegram_api_url=standin.url,
        backup_spool_dir=tmp_path / "spool",
        backup_max_attempts=2,
        backup_spool_retry_delay=45,
    )
    runtime = Runtime(settings=config, database=database)
    yield runtime
    runtime.telegram().close()


Sent = FakeSend


def running_job(rt: Runtime, *, attempts: int = 1, uploaded: bool = False) -> uuid.UUID:
    """A backup job in its dump on HOST, as dump_step leaves it (maybe a part sent early)."""
    job_id = uuid.uuid4()
    part = {"chat_id": str(CHAT), "message_id": 77, "file_id": "f", "file_unique_id": "u"}
    with rt.database.transaction() as s:
        db_jobs.create_job(
            s,
            job_id=job_id,
            type="backup",
            project_id="proj-1",
            payload={"project_id": "proj-1", "database": "app", "chat_id": str(CHAT)},
            celery_task_id=None,
        )
        s.execute(
            update(models.Job)
            .where(models.Job.id == job_id)
            .values(
                status="running",
                attempts=attempts,
                worker_hostname=HOST,
                stage="dump",
                progress=12,
                result={"artifact": None, "uploaded": {"0": part} if uploaded else {}},
            )
        )
    (rt.settings.backup_spool_dir / str(job_id)).mkdir(parents=True)
    return job_id


def row(rt: Runtime, job_id: uuid.UUID) -> models.Job:
    with rt.database.transaction() as s:
        found = db_jobs.get_job(s, job_id)
        assert found is not None
        s.expunge(found)
        return found


def retry(rt: Runtime, job_id: uuid.UUID, sent: Sent, *, attempt: int = 1) -> str | None:
    return ending.retry_later(
        rt,
        job_id,
        errors.SpoolFull(FULL, attempt=attempt),
        hostname=HOST,
        publisher=sent.publisher(),
    )


def test_a_full_spool_puts_the_job_back_for_any_worker_after_the_delay(
    rt: Runtime, standin: BotApiStandin
) -> None:
    job_id = running_job(rt, uploaded=True)
    sent = FakeSend()
    note = retry(rt, job_id, sent)
    assert note == f"retrying in 45 s on any worker (attempt 1 of 2): {FULL}"
    assert [(call.name, call.kwargs, call.options["countdown"]) for call in sent.calls] == [
        ("backups.create", {"project_id": "proj-1", "database": "app", "job_id": str(job_id)}, 45)
    ]
    back = row(rt, job_id)
    assert (back.status, back.worker_hostname, back.stage, back.progress) == (
        "pending",
        None,
        None,
        0,
    )
    assert (back.attempts, back.error) == (1, note)
    state = back.result or {}
    assert (state["uploaded"], state["spool_full_retries"]) == ({}, 1)
    due = dt.datetime.fromisoformat(state["retry_at"]) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(seconds=40) < due <= dt.timedelta(seconds=45)
    # This attempt's spool and its early-sent part are gone, as when a job fails.
    assert not (rt.settings.backup_spool_dir / str(job_id)).exists()
    assert [entry["chat_id"] for entry in standin.requests("deleteMessage")] == [CHAT]
    # Any worker claims it when the message comes; the next attempt clears the note.
    with rt.database.transaction() as s:
        assert db_jobs.claim_job(s, job_id, hostname="w2@host-b", payload={})
        started = db_jobs.start_job(s, job_id, hostname="w2@host-b", max_attempts=2)
        assert started is not None
        assert (started.status, started.attempts, started.error) == ("running", 2, None)


def test_the_last_attempt_fails_with_what_to_do(rt: Runtime, standin: BotApiStandin) -> None:
    job_id = running_job(rt, attempts=2, uploaded=True)
    with rt.database.transaction() as s:
        db_jobs.merge_result(s, job_id, {"spool_full_retries": 1})
    sent = FakeSend()
    assert retry(rt, job_id, sent, attempt=2) is None
    assert sent.calls == []
    exc = errors.SpoolFull(FULL, attempt=2)
    message = ending.fail(rt, job_id, exc)
    assert message == (
        f"{FULL}; gave up after 2 attempt(s) (BACKUP_MAX_ATTEMPTS=2), retried 1 time(s) after"
        " a full spool, 45 s apart: free space there or point BACKUP_SPOOL_DIR at a larger"
        " disk, then start the backup again"
    )
    failed = row(rt, job_id)
    assert (failed.status, failed.error) == ("failed", message)
    assert not (rt.settings.backup_spool_dir / str(job_id)).exists()
    assert len(standin.requests("deleteMessage")) == 1


@pytest.mark.parametrize(
    ("attempt", "hostname"), [(1, HOST), (2, "w2@host-b")], ids=["older attempt", "other host"]
)
def test_a_stale_attempt_leaves_the_job_alone(rt: Runtime, attempt: int, hostname: str) -> None:
    job_id = running_job(rt, attempts=2)
    with rt.database.transaction() as s:
        s.execute(
            update(models.Job).where(models.Job.id == job_id).values(worker_hostname=hostname)
        )
    sent = FakeSend()
    note = retry(rt, job_id, sent, attempt=attempt)
    assert note is not None
    assert note.endswith("its full spool is not retried")
    assert sent.calls == []
    same = row(rt, job_id)
    assert (same.status, same.attempts, same.worker_hostname, same.error) == (
        "running",
        2,
        hostname,
        None,
    )
    assert (rt.settings.backup_spool_dir / str(job_id)).is_dir()


def test_the_reaper_resends_a_retry_only_once_it_is_due(rt: Runtime) -> None:
    waiting, due = running_job(rt), running_job(rt)
    sent = FakeSend()
    for job_id in (waiting, due):
        assert retry(rt, job_id, sent) is not None
    # Both messages were lost (a broker restart), and longer than JOB_HEARTBEAT_STALE ago.
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with rt.database.transaction() as s:
        db_jobs.merge_result(s, due, {"retry_at": past.isoformat()})
        s.execute(
            update(models.Job).where(models.Job.id.in_([waiting, due])).values(updated_at=past)
        )
    resent = FakeSend()
    result = reaper.reap(rt, resent.publisher())
    assert result.resent == [str(due)]
    assert [kwargs["job_id"] for kwargs in resent.kwargs] == [str(due)]
