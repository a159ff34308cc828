"""A backup's parts at Telegram's own rate: the stand-in enforcing Telegram's limits over a
100 Mbit/s, 40 ms link, the pacer with the shipped defaults (docs/fleet.md, "Arrival"); two
uploads on a slow link, and the first part sent while it is written.

Assertions are on the times the stand-in counted each message at (its `sends()`), and on its
answers: never on how long the test took.
"""

from __future__ import annotations

import io
import itertools
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
from worker.artifact import growing, manifest
from worker.backup import upload
from worker.telegram import arrival
from worker.telegram import client as telegram
from worker.telegram import pacer as fleetpacer
from worker.telegram import sender as fleetsender

TOKEN = "111111:arrival-secret"
GROUP = "-1001"
OTHER_GROUP = "-1002"
PART = 1_000_000  # bytes: 80 ms on the link
MARGIN = defaults.DEFAULT_PACER_MARGIN


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[BotApiStandin]:
    with BotApiStandin(
        tokens=[TOKEN],
        chats=[int(GROUP), int(OTHER_GROUP)],
        limits=limits.TELEGRAM,
        link=link.PROFILES["100mbit"],
        data_dir=tmp_path / "standin",
    ) as server:
        yield server


@pytest.fixture
def pacer(redis_url: str) -> Iterator[fleetpacer.Pacer]:
    client = redis.Redis.from_url(redis_url)
    # As from_settings builds it with the shipped defaults.
    yield fleetpacer.Pacer(
        client,
        margin=MARGIN,
        key_prefix=f"test-arrival-standin-{uuid.uuid4().hex[:8]}",
    )
    client.close()


def _parts(tmp_path: Path, count: int) -> list[Path]:
    paths = []
    for index in range(count):
        path = tmp_path / f"part-{index}"
        path.write_bytes(os.urandom(PART))
        paths.append(path)
    return paths


def _sent_times(standin: BotApiStandin) -> list[float]:
    return sorted(float(str(send["time"])) for send in standin.sends())


def test_seven_parts_into_one_group_go_a_second_apart_without_a_429(
    standin: BotApiStandin, pacer: fleetpacer.Pacer, tmp_path: Path
) -> None:
    with telegram.TelegramClient(TOKEN, standin.url) as client:
        sender = fleetsender.Sender(
            lambda bot: client, bots=[fleetpacer.bot_id(TOKEN)], pacer=pacer, max_attempts=4
        )
        for path in _parts(tmp_path, 7):
            sender.send_document([GROUP], path)
    assert [entry["status"] for entry in standin.requests("sendDocument")] == [200] * 7
    times = _sent_times(standin)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(times) == 7
    assert min(gaps) >= 1.0, gaps  # Telegram's 1 message per second in one chat
    assert all(later - earlier >= 60 for earlier, later in zip(times, times[20:], strict=False))
    # The budget spent, not a margin: each next part's slot is a second after Telegram's answer
    # to the one before (Pacer.landed), not a second and the margin after its slot.
    assert times[-1] - times[0] < 6 * (1 + MARGIN / 2), gaps


def test_with_two_chats_one_backups_parts_go_out_at_once(
    standin: BotApiStandin, pacer: fleetpacer.Pacer, tmp_path: Path
) -> None:
    chats = (GROUP, OTHER_GROUP)
    paths = _parts(tmp_path, 4)
    parts = tuple(
        manifest.PartFile(index, path, PART, f"{index:064x}") for index, path in enumerate(paths)
    )
    art = manifest.Artifact("a.zst", "zstd", False, (), 4 * PART, "0" * 64, 4 * PART, parts)
    where = upload.Destination(GROUP, None, "proj", "db", chats=chats)
    sent: list[upload.SentPartJSON] = []
    with telegram.TelegramClient(TOKEN, standin.url) as client:
        sender = fleetsender.Sender(
            lambda bot: client, bots=[fleetpacer.bot_id(TOKEN)], pacer=pacer, max_attempts=4
        )
        upload.send_parts(sender, art, where, on_sent=lambda part, moved: sent.append(part))
    assert sorted(part["index"] for part in sent) == [0, 1, 2, 3]
    assert {part["chat_id"] for part in sent} == set(chats)
    requests = standin.requests("sendDocument")
    assert [entry["status"] for entry in requests] == [200] * 4
    spans = [
        (float(str(e["time"])), float(str(e["time"])) + float(str(e["duration"]))) for e in requests
    ]
    # Two uploads were on the link at the same time: the parts did not wait for each other.
    assert any(
        start < other_end and other_start < end
        for (start, end), (other_start, other_end) in itertools.combinations(spans, 2)
    ), spans
    for chat in chats:
        times = sorted(float(str(s["time"])) for s in standin.sends() if str(s["chat_id"]) == chat)
        assert all(b - a >= 1.0 for a, b in itertools.pairwise(times)), times


def test_the_last_block_waits_so_telegram_sees_the_message_at_its_slot(
    standin: BotApiStandin, pacer: fleetpacer.Pacer, tmp_path: Path
) -> None:
    (path,) = _parts(tmp_path, 1)
    slot = pacer.take([(fleetpacer.bot_id(TOKEN), GROUP)], lead=0.8)
    gate = arrival.Gate(pacer, slot, arrival.Throughput(), PART)
    with telegram.TelegramClient(TOKEN, standin.url) as client:
        client.send_document(int(GROUP), path, before_end=gate.hold)
    (request,) = standin.requests("sendDocument")
    (counted,) = _sent_times(standin)
    assert float(str(request["time"])) <= slot.at - 0.5  # the upload began well before the slot
    assert counted >= slot.at - 0.005  # and Telegram saw it at the slot, not when the body was sent
    assert gate.held > 0.3


def _sender(
    client: telegram.TelegramClient,
    pacer: fleetpacer.Pacer,
    rate: arrival.Throughput | None = None,
) -> fleetsender.Sender:
    return fleetsender.Sender(
        lambda bot: client, bots=[fleetpacer.bot_id(TOKEN)], pacer=pacer, max_attempts=4, rate=rate
    )


def _spans(standin: BotApiStandin) -> list[tuple[float, float]]:
    """Each sendDocument's first and last moment at the stand-in, in the order they began."""
    return sorted(
        (float(str(e["time"])), float(str(e["time"])) + float(str(e["duration"])))
        for e in standin.requests("sendDocument")
    )


def _artifact(paths: list[Path], size: int) -> manifest.Artifact:
    parts = tuple(
        manifest.PartFile(index, path, size, f"{index:064x}") for index, path in enumerate(paths)
    )
    total = size * len(parts)
    return manifest.Artifact("a.zst", "zstd", False, (), total, "0" * 64, total, parts)


def test_on_a_slow_link_the_next_part_starts_before_the_one_before_is_answered(
    pacer: fleetpacer.Pacer, tmp_path: Path
) -> None:
    # 3 MB over 2 MB/s: 1.5 s a part, longer than the pacer's spacing after an unanswered
    # message (1 s + the margin), so the link, not the chat's rate, is the bound.
    slow = link.Link(rate=2e6, rtt=0.040)
    size = 3_000_000
    paths = [tmp_path / f"slow-{index}" for index in range(3)]
    for path in paths:
        path.write_bytes(os.urandom(size))
    rate = arrival.Throughput()
    rate.observe(size, size / slow.rate)  # as measured by the process's earlier uploads
    with (
        BotApiStandin(
            tokens=[TOKEN],
            chats=[int(GROUP)],
            limits=limits.TELEGRAM,
            link=slow,
            data_dir=tmp_path / "standin",
        ) as standin,
        telegram.TelegramClient(TOKEN, standin.url) as client,
    ):
        sender = _sender(client, pacer, rate)
        assert sender.overlaps(size)
        sent: list[upload.SentPartJSON] = []
        where = upload.Destination(GROUP, None, "proj", "db")
        upload.send_parts(
            sender, _artifact(paths, size), where, on_sent=lambda part, moved: sent.append(part)
        )
        assert sorted(part["index"] for part in sent) == [0, 1, 2]
        assert [e["status"] for e in standin.requests("sendDocument")] == [200] * 3
        spans = _spans(standin)
        # Each next upload began before the one before it was answered: the link did not idle
        # for an answer's round trip between two parts.
        assert all(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans)), spans
        times = _sent_times(standin)
        assert all(b - a >= 1.0 for a, b in itertools.pairwise(times)), times


def test_on_a_fast_link_the_next_part_waits_for_the_answer(
    standin: BotApiStandin, pacer: fleetpacer.Pacer, tmp_path: Path
) -> None:
    # 1 MB over 100 Mbit/s: 80 ms, so the chat's rate is the bound: a slot counted from the
    # answer comes sooner than one taken while the message before is unanswered.
    rate = arrival.Throughput()
    rate.observe(PART, PART / link.PROFILES["100mbit"].rate)
    with telegram.TelegramClient(TOKEN, standin.url) as client:
        sender = _sender(client, pacer, rate)
        assert not sender.overlaps(PART)
        where = upload.Destination(GROUP, None, "proj", "db")
        upload.send_parts(
            sender, _artifact(_parts(tmp_path, 3), PART), where, on_sent=lambda *_: None
        )
    spans = _spans(standin)
    assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(spans)), spans


# The first part sent while it is written (worker.artifact.growing).
GROWING = 2_000_000
GROWING_STEPS = 20  # the writer appends GROWING / GROWING_STEPS bytes every 30 ms: 0.6 s


def _writer(part: growing.Growing, data: bytes, *, stop_at: int | None = None) -> threading.Thread:
    """Appends `data` to the part's file a step at a time, as the dump does; stops (and cuts
    the part) after `stop_at` bytes."""

    def write() -> None:
        step = len(data) // GROWING_STEPS
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


def test_the_first_part_goes_over_the_link_while_it_is_written(
    standin: BotApiStandin, pacer: fleetpacer.Pacer, tmp_path: Path
) -> None:
    data = os.urandom(GROWING)
    part = growing.Growing(tmp_path / "a.zst.001", GROWING)
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
        assert record["size_bytes"] == GROWING
        assert record["sha256"] == part.part().sha256
        got = io.BytesIO()
        client.download(client.get_file(record["file_id"]), got, size=GROWING)
    assert got.getvalue() == data
    (message,) = standin.messages()
    caption = str(message["caption"])
    assert f"{GROWING:,} bytes" in caption
    assert "sha256" not in caption  # not known when the request began


def test_a_first_part_that_ends_short_sends_nothing_and_frees_its_slot(
    standin: BotApiStandin, pacer: fleetpacer.Pacer, tmp_path: Path
) -> None:
    part = growing.Growing(tmp_path / "a.zst.001", GROWING)
    writer = _writer(part, os.urandom(GROWING), stop_at=GROWING // 2)
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
