"""Send-only, record-only and batches, against real PostgreSQL and the Bot API stand-in."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from db import ledger, session
from db.queries import backups as db_backups
from db.queries import jobs as db_jobs
from db.queries import scope as db_scope
from standin.server import BotApiStandin
from tests.support.fake_send import FakeSend
from worker import errors, settings
from worker.backup import batch, send, upload
from worker.jobs.runtime import Runtime
from worker.telegram.client import TelegramClient

TOKEN = "424242:SEND-token-abcdefghijklmnopqrstuvwxyz0123"
CHAT = -1005555555555


@pytest.fixture
def rt(database: session.Database, tmp_path: Path) -> Iterator[Runtime]:
    with BotApiStandin(tokens=[TOKEN], chats=[CHAT], data_dir=tmp_path / "standin") as server:
        config = settings.Settings(
            telegram_bot_token=TOKEN,
            telegram_chat_id=str(CHAT),
            telegram_api_url=server.url,
            backup_part_size=300_000,
            backup_spool_dir=tmp_path / "spool",
        )
        runtime = Runtime(settings=config, database=database)
        yield runtime
        runtime.telegram().close()


def download(rt: Runtime, parts: list[upload.SentPartJSON], target: Path) -> bytes:
    with TelegramClient(TOKEN, rt.settings.telegram_api_url) as client, target.open("wb") as sink:
        for part in parts:
            client.download_file(part["file_id"], sink)
    return target.read_bytes()


def test_send_splits_compresses_and_returns_every_id(rt: Runtime, tmp_path: Path) -> None:
    data = os.urandom(600_000) + b"text " * 100_000
    sent = send.send_stream(rt, io.BytesIO(data), project_id="proj-s", name="dump.sql")
    assert len(sent.parts) >= 2
    assert all(part["size_bytes"] <= 300_000 for part in sent.parts)
    joined = download(rt, sent.parts, tmp_path / "joined.zst")
    assert hashlib.sha256(joined).hexdigest() == sent.artifact.sha256
    plain = subprocess.run(["zstd", "-dc"], input=joined, capture_output=True, check=True).stdout
    assert plain == data
    assert sent.artifact.filename == "dump.sql.zst"
    assert list((tmp_path / "spool").iterdir()) == []


def test_send_without_compression_keeps_the_bytes(rt: Runtime, tmp_path: Path) -> None:
    data = os.urandom(450_000)
    sent = send.send_stream(rt, io.BytesIO(data), project_id="p", name="x.bin", compress=False)
    assert download(rt, sent.parts, tmp_path / "joined") == data


def test_recorded_send_is_a_file_backup(rt: Runtime) -> None:
    sent = send.send_stream(rt, io.BytesIO(b"abc" * 1000), project_id="proj-r", name="a.txt")
    row = send.record_sent(rt, sent, project_id="proj-r", expires_in_days=3)
    assert row.type == "file"
    assert row.part_count == len(sent.parts)
    assert [p.file_id for p in row.parts] == [p["file_id"] for p in sent.parts]


def test_register_records_parts_telegram_knows(rt: Runtime) -> None:
    sent = send.send_stream(rt, io.BytesIO(os.urandom(700_000)), project_id="p", name="b.bin")
    row = send.register(
        rt,
        project_id="proj-reg",
        filename="b.bin.zst",
        parts=[dict(part) for part in sent.parts],
        sha256=sent.artifact.sha256,
    )
    assert row.size_bytes == sent.artifact.size_bytes
    assert row.part_count == len(sent.parts)


def test_register_refuses_an_unknown_file_id(rt: Runtime) -> None:
    part = {"file_id": "nope", "message_id": 1, "size_bytes": 10, "sha256": "a" * 64}
    with pytest.raises(errors.TelegramBadRequest, match="file"):
        send.register(rt, project_id="p", filename="c.bin", parts=[part])


@pytest.mark.parametrize(
    "parts",
    [[], "x", [{"file_id": "a"}], [{"file_id": "a", "message_id": "x", "size_bytes": 1}]],
)
def test_register_refuses_malformed_parts(rt: Runtime, parts: object) -> None:
    with pytest.raises(errors.InputError, match="part"):
        send.register(rt, project_id="p", filename="c.bin", parts=parts, check=False)


def test_batch_reports_each_request_and_queues_only_valid_ones(rt: Runtime) -> None:
    sent = FakeSend()
    items = [
        {"project_id": "p1", "database": "sales"},
        {"project_id": "p2", "database": "x" * 64},  # a legal name has at most 63 bytes
        "not an object",
        {"project_id": "p3", "database": "crm", "expires_in_days": 5, "caption": "weekly"},
        {"project_id": "p4", "database": "crm", "colour": "blue"},
    ]
    report = batch.enqueue_batch(rt, items, sent.publisher())
    assert [item["status"] for item in report] == [
        "queued",
        "refused",
        "refused",
        "queued",
        "refused",
    ]
    assert "database" in str(report[1]["error"])
    assert "colour" in str(report[4]["error"])
    assert {call.name for call in sent.calls} == {"backups.create"}
    assert [task["project_id"] for task in sent.kwargs] == ["p1", "p3"]
    with rt.database.transaction() as s:
        for item in report:
            if item["job_id"]:
                job = db_jobs.get_job(s, uuid.UUID(item["job_id"]))
                assert job is not None
                assert job.status == "pending"


def test_batch_must_be_a_bounded_list(rt: Runtime) -> None:
    with pytest.raises(errors.InputError, match="list"):
        batch.enqueue_batch(rt, {"project_id": "p"}, FakeSend().publisher())
    with pytest.raises(errors.InputError, match="at most"):
        batch.enqueue_batch(rt, [{}] * (batch.MAX_BATCH + 1), FakeSend().publisher())


def _states(rt: Runtime, backup_id: uuid.UUID) -> list[tuple[str | None, str | None]]:
    with rt.database.transaction() as s:
        backup = db_backups.get_backup(s, backup_id)
        assert backup is not None
        return [(part.delete_status, part.delete_error) for part in backup.parts]


def test_register_refuses_a_message_another_backup_records(rt: Runtime) -> None:
    sent = send.send_stream(rt, io.BytesIO(os.urandom(1000)), project_id="p", name="d.bin")
    parts = [dict(part) for part in sent.parts]
    send.register(rt, project_id="proj-b", filename="d.bin.zst", parts=parts)
    with pytest.raises(errors.InputError, match="already recorded for another backup"):
        send.register(rt, project_id="proj-a", filename="d.bin.zst", parts=parts)


def test_registered_parts_the_ledger_does_not_prove_are_only_forgotten(rt: Runtime) -> None:
    sent = send.send_stream(rt, io.BytesIO(os.urandom(1000)), project_id="p", name="e.bin")
    part = dict(sent.parts[0])
    # Not in the ledger: the sweep must never delete it.
    row = send.register(rt, project_id="proj-a", filename="e.bin.zst", parts=[part])
    assert _states(rt, row.id) == [("undeletable", db_scope.FOREIGN_PART)]
    # The ledger shows a job of this very project sending it: the worker's own, deletable.
    sent2 = send.send_stream(rt, io.BytesIO(os.urandom(1000)), project_id="p", name="f.bin")
    mine = dict(sent2.parts[0])
    job_id = uuid.uuid4()
    with rt.database.transaction() as s:
        db_jobs.create_job(
            s, job_id=job_id, type="backup", project_id="proj-a", payload={}, celery_task_id=None
        )
        ledger.record(s, job_id, str(mine["chat_id"]), int(str(mine["message_id"])))
    own = send.register(rt, project_id="proj-a", filename="f.bin.zst", parts=[mine])
    assert _states(rt, own.id) == [(None, None)]
    # ...but not for another project's register.
    sent3 = send.send_stream(rt, io.BytesIO(os.urandom(1000)), project_id="p", name="g.bin")
    theirs = dict(sent3.parts[0])
    with rt.database.transaction() as s:
        ledger.record(s, job_id, str(theirs["chat_id"]), int(str(theirs["message_id"])))
    other = send.register(rt, project_id="proj-b", filename="g.bin.zst", parts=[theirs])
    assert _states(rt, other.id) == [("undeletable", db_scope.FOREIGN_PART)]
