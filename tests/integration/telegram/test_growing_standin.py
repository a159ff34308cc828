"""The first part sent while it is written (worker.artifact.growing), against the stand-in with
Telegram's limits over a 100 Mbit/s, 40 ms link and the pacer with the shipped defaults."""

from __future__ import annotations

import io
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from standin import limits, link
from standin.server import BotApiStandin
from worker import defaults, errors
from worker.artifact import growing
from worker.backup import upload
from worker.telegram import client as telegram
from worker.telegram import pacer as fleetpacer
from worker.telegram import sender as fleetsender

TOKEN = "111111:growing-secret"
GROUP = "-1001"
SIZE = 2_000_000
STEPS = 20  # the writer appends SIZE / STEPS bytes every 30 ms: 0.6 s for the part


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[BotApiStandin]:
    with BotApiStandin(
        tokens=[TOKEN],
        chats=[int(GROUP)],
        limits=limits.TELEGRAM,
        link=link.PROFILES["100mbit"],
        data_dir=tmp_path / "standin",
    ) as server:
        yield server


@pytest.fixture
def pacer(redis_url: str) -> Iterator[fleetpacer.Pacer]:
    client = redis.Redis.from_url(redis_url)
    yield fleetpacer.Pacer(
        client,
        margin=defaults.DEFAULT_PACER_MARGIN,
        key_prefix=f"test-growing-{uuid.uuid4().hex[:8]}",
    )
    client.close()


def _writer(part: growing.Growing, data: bytes, *, stop_at: int | None = None) -> threading.Thread:
    """Appends `data` to the part's file a step at a time, as the dump does; stops (and cuts
    the part) after `stop_at` bytes."""

    def write() -> None:
        step = len(data) // STEPS
        with part.path.open("wb", buffering=0) as file:
            for offset in range(0, len(data), step):
                if stop_at is not None and offset >= stop_at:
                    part.cut()
                    return
                file.write(data[offset : offset + step])
                part.wrote(len(data[offset : offset + step]))
                time.sleep(0.03)
        finished.append(time.time())

    finished: list[float] = []
    thread = threading.Thread(target=write)
    thread.finished = finished  # type: ignore[attr-defined]
    return thread


def _sender(client: telegram.TelegramClient, pacer: fleetpacer.Pacer) -> fleetsender.Sender:
    return fleetsender.Sender(
        lambda bot: client, bots=[fleetpacer.bot_id(TOKEN)], pacer=pacer, max_attempts=4
    )


def test_the_first_part_goes_over_the_link_while_it_is_written(
    standin: BotApiStandin, pacer: fleetpacer.Pacer, tmp_path: Path
) -> None:
    data = os.urandom(SIZE)
    part = growing.Growing(tmp_path / "a.zst.001", SIZE)
    writer = _writer(part, data)
    where = upload.Destination(GROUP, None, "proj", "db")
    writer.start()
    with telegram.TelegramClient(TOKEN, standin.url) as client:
        record, moved = upload.send_growing(_sender(client, pacer), part, where)
        writer.join(5)
        (request,) = standin.requests("sendDocument")
        assert request["status"] == 200
        # The request began well before the writer had written the part's last byte.
        (finished,) = writer.finished  # type: ignore[attr-defined]
        assert float(str(request["time"])) < finished - 0.3
        assert moved is None
        assert record["index"] == 0
        assert record["size_bytes"] == SIZE
        assert record["sha256"] == part.part().sha256
        got = io.BytesIO()
        client.download(client.get_file(record["file_id"]), got, size=SIZE)
    assert got.getvalue() == data
    (message,) = standin.messages()
    caption = str(message["caption"])
    assert f"{SIZE:,} bytes" in caption
    assert "sha256" not in caption  # not known when the request began


def test_a_first_part_that_ends_short_sends_nothing_and_frees_its_slot(
    standin: BotApiStandin, pacer: fleetpacer.Pacer, tmp_path: Path
) -> None:
    part = growing.Growing(tmp_path / "a.zst.001", SIZE)
    writer = _writer(part, os.urandom(SIZE), stop_at=SIZE // 2)
    where = upload.Destination(GROUP, None, "proj", "db")
    writer.start()
    with telegram.TelegramClient(TOKEN, standin.url) as client:
        with pytest.raises(errors.PartCut):
            upload.send_growing(_sender(client, pacer), part, where)
        writer.join(5)
    assert standin.sends() == []  # Telegram counted nothing
    assert standin.messages() == []
    # The slot went back: the chat's next message need not wait a window for it.
    assert pacer.take([(fleetpacer.bot_id(TOKEN), GROUP)]).wait < 0.5
