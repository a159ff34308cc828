"""An upload whose Telegram slot is far off defers with its slot kept, and says so in its jobs
row: a copy of its message sent again (its own lost with a broker restart) waits for the same
slot instead of booking a second one, and the part is sent once.

Real PostgreSQL, a Redis of the test's own for the fleet pacer, the Telegram stand-in.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from db import session
from standin.server import BotApiStandin
from tests.integration.backup.test_copies import job_row, uploading_job
from tests.support import services
from worker import errors, settings
from worker.backup import steps as backup
from worker.jobs import deferral
from worker.jobs.runtime import Runtime
from worker.telegram import pacer as fleetpacer

HOST = "w1@host-a"
TOKEN = "730003:DEFER-ABCdefGHIjklMNOpqrSTUvwx"
CHAT = -1007300000003
BOOKED = 3  # slots other jobs hold before ours, 1 s apart


@pytest.fixture
def pacer_redis(tmp_path: Path) -> Iterator[str]:
    server = services.RedisServer(tmp_path / "pacer", services.free_port())
    server.start()
    try:
        yield f"redis://127.0.0.1:{server.port}/0"
    finally:
        server.stop()


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[BotApiStandin]:
    with BotApiStandin(tokens=[TOKEN], chats=[CHAT], data_dir=tmp_path / "standin") as server:
        yield server


@pytest.fixture
def rt(
    database: session.Database, standin: BotApiStandin, pacer_redis: str, tmp_path: Path
) -> Iterator[Runtime]:
    config = settings.Settings(
        _env_file=None,
        telegram_bot_token=TOKEN,
        telegram_chat_id=str(CHAT),
        telegram_api_url=standin.url,
        pacer_redis_url=pacer_redis,
        telegram_chat_per_second=1,
        telegram_group_per_minute=60,
        telegram_pacer_max_sleep=0.5,
        backup_spool_dir=tmp_path / "spool",
    )
    runtime = Runtime(settings=config, database=database)
    yield runtime
    runtime.close_telegram()


def test_a_deferred_upload_sent_again_waits_for_its_kept_slot_and_sends_its_part_once(
    rt: Runtime, standin: BotApiStandin, tmp_path: Path
) -> None:
    pacer = rt.pacer()
    assert pacer is not None
    pair = (fleetpacer.bot_id(TOKEN), str(CHAT))
    for _ in range(BOOKED):
        pacer.take([pair])
    job_id = uploading_job(rt, tmp_path, parts=1)
    with pytest.raises(errors.PacerDeferred) as first:
        backup.upload_step(rt, job_id, hostname=HOST)
    kept = deferral.Deferral.of(job_row(rt, job_id))
    assert kept is not None
    assert (kept.step, kept.slot) == ("upload", first.value.slot)
    ahead = kept.until - dt.datetime.now(dt.UTC)
    assert dt.timedelta(seconds=1) < ahead <= dt.timedelta(seconds=first.value.seconds + 1)

    # Its message is lost; the resume pass sends the step again, whose message carries no
    # slot: it defers for the same slot, booking none.
    with pytest.raises(errors.PacerDeferred) as again:
        backup.upload_step(rt, job_id, hostname=HOST)
    assert again.value.slot == first.value.slot
    assert pacer.take([pair]).at_us > int(first.value.slot["at_us"])

    slots = []  # each run's until the part is sent: the kept slot, each time
    ends = time.monotonic() + 30
    while time.monotonic() < ends:
        try:
            backup.upload_step(rt, job_id, hostname=HOST)
            break
        except errors.PacerDeferred as exc:
            slots.append(exc.slot)
            time.sleep(max(0.05, exc.seconds))
    assert slots.count(first.value.slot) == len(slots), "a second slot was booked for the part"
    row = job_row(rt, job_id)
    assert isinstance(row.result, dict)
    assert sorted(row.result["uploaded"]) == ["0"]
    assert deferral.Deferral.of(row) is None
    sent = [r for r in standin.requests("sendDocument") if r["status"] == 200]
    assert len(sent) == 1
    # A copy of the message that comes after the part was sent sends nothing.
    backup.upload_step(rt, job_id, hostname=HOST)
    assert len([r for r in standin.requests("sendDocument") if r["status"] == 200]) == 1


def test_a_deferral_is_noted_only_for_the_attempt_that_owns_the_job(
    rt: Runtime, tmp_path: Path
) -> None:
    job_id = uploading_job(rt, tmp_path, parts=1)
    slot = {"bot_id": "730003", "chat_id": str(CHAT), "id": uuid.uuid4().hex, "at_us": "1"}
    with pytest.raises(errors.AttemptSuperseded):
        deferral.note(rt, job_id, "w2@host-b", step="upload", seconds=30, slot=slot)
    assert deferral.Deferral.of(job_row(rt, job_id)) is None
    noted = deferral.note(rt, job_id, HOST, step="upload", seconds=30, slot=slot)
    assert deferral.Deferral.of(job_row(rt, job_id)) == noted
