"""The paced sender against the stand-in and a real Redis: spread, closures, no tenacity sleeps."""

from __future__ import annotations

import collections
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from standin.limits import Limits, Rate
from standin.server import BotApiStandin
from worker import errors
from worker.telegram import arrival
from worker.telegram import client as telegram
from worker.telegram import pacer as fleetpacer
from worker.telegram import sender as fleetsender

TOKENS = {"111111": "111111:first-secret", "222222": "222222:second-secret"}
CHATS = ("-1001", "-1002")
MARGIN = 0.03  # seconds added to the pacer's windows (docs/fleet.md, "Arrival")


def _no_tenacity_sleep(seconds: float) -> None:
    raise AssertionError(f"the client slept {seconds} s itself: the pacer should have waited")


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[BotApiStandin]:
    limits = Limits(chat=Rate(1, 0.2), group=Rate(4, 1.0), bot=Rate(8, 1.0))
    with BotApiStandin(
        tokens=list(TOKENS.values()), chats=[int(c) for c in CHATS], limits=limits
    ) as server:
        yield server


def _pacer(redis_url: str, prefix: str) -> fleetpacer.Pacer:
    return fleetpacer.Pacer(
        redis.Redis.from_url(redis_url),
        chat_per_second=1,
        group_per_minute=4,
        bot_per_second=8,
        chat_window=0.2 + MARGIN,
        group_window=1.0 + MARGIN,
        bot_window=1.0 + MARGIN,
        key_prefix=prefix,
    )


def _sender(standin: BotApiStandin, pacer: fleetpacer.Pacer | None) -> fleetsender.Sender:
    clients = {
        bot: telegram.TelegramClient(token, standin.url, sleep=_no_tenacity_sleep)
        for bot, token in TOKENS.items()
    }
    return fleetsender.Sender(clients.__getitem__, bots=list(TOKENS), pacer=pacer, max_attempts=4)


def _document(tmp_path: Path) -> Path:
    path = tmp_path / f"part-{uuid.uuid4().hex[:6]}"
    path.write_bytes(b"x" * 1000)
    return path


def test_two_threads_spread_over_both_bots_and_chats_without_a_429(
    standin: BotApiStandin, redis_url: str, tmp_path: Path
) -> None:
    sent: list[fleetsender.Sent] = []
    lock = threading.Lock()

    def worker() -> None:
        sender = _sender(standin, _pacer(redis_url, "test-sender"))
        for _ in range(6):
            one = sender.send_document(CHATS, _document(tmp_path))
            with lock:
                sent.append(one)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # Every send returned: a thread that died or hung would leave the counts below short.
    assert not any(thread.is_alive() for thread in threads)
    assert len(sent) == 12
    assert {entry["status"] for entry in standin.requests("sendDocument")} == {200}
    # Whichever pair is free first takes the next message: on a loaded machine one thread's
    # upload can end late and give the same bot two turns (CI saw 7 and 5), so no exact split;
    # a sender that did not spread would put all 12 on one bot or one chat.
    by_bot = collections.Counter(s.bot_id for s in sent)
    by_chat = collections.Counter(s.chat_id for s in sent)
    assert set(by_bot) == set(TOKENS)
    assert set(by_chat) == set(CHATS)
    assert all(4 <= count <= 8 for count in [*by_bot.values(), *by_chat.values()])
    # Each Sent names the bot that really sent it: its file_id works for that bot alone.
    owners = {m["file_id"]: str(m["bot_id"]) for m in standin.messages()}
    assert all(owners[s.document.file_id] == s.bot_id for s in sent)


def test_a_429_closes_the_chat_for_every_sender_and_the_retry_waits_in_the_pacer(
    standin: BotApiStandin, redis_url: str, tmp_path: Path
) -> None:
    waits: list[float] = []
    first = _sender(standin, _pacer(redis_url, "test-closure"))
    other = _sender(standin, _pacer(redis_url, "test-closure"))  # another worker's
    standin.set_faults(["429:2"], methods=["sendDocument"])
    done: list[fleetsender.Sent] = []
    thread = threading.Thread(
        target=lambda: done.append(
            first.send_document(CHATS[:1], _document(tmp_path), on_wait=waits.append)
        )
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not standin.requests("sendDocument") and time.monotonic() < deadline:
        time.sleep(0.01)
    other.send_document(CHATS[:1], _document(tmp_path))  # asked during the closure
    thread.join(timeout=10)
    refused, *accepted = standin.requests("sendDocument")
    assert refused["status"] == 429
    assert [entry["status"] for entry in accepted] == [200, 200]
    closed_at = float(str(refused["time"])) + float(str(refused["duration"]))
    # Counted when their bodies arrived: the arrival gate may start an upload inside the closure.
    counted = [float(str(send["time"])) for send in standin.sends()]
    assert len(counted) == 2
    assert all(at >= closed_at + 2 - 0.05 for at in counted)
    assert len(waits) == 1
    assert 1.5 < waits[0] <= 2.5
    assert done[0].chat_id == CHATS[0]


def test_after_a_429_in_one_chat_the_next_try_goes_to_a_free_chat_at_once(
    standin: BotApiStandin, redis_url: str, tmp_path: Path
) -> None:
    waits: list[float] = []
    sender = _sender(standin, _pacer(redis_url, "test-other-chat"))
    standin.set_faults(["429:30"], methods=["sendDocument"])
    done = sender.send_document(CHATS, _document(tmp_path), on_wait=waits.append)
    refused = standin.requests("sendDocument")[0]
    assert refused["status"] == 429
    assert done.chat_id != str(refused["chat_id"])  # not 30 s later in the closed chat
    assert all(wait < 1.5 for wait in waits)


def test_a_slot_kept_across_a_wipe_of_redis_is_taken_anew_and_waits_for_the_window(
    standin: BotApiStandin, redis_url: str, tmp_path: Path
) -> None:
    # A deferred upload keeps its slot; Redis restarts without persistence before it is used:
    # Telegram still counts the group's last messages, so the slot must not be trusted.
    pacer = _pacer(redis_url, "test-kept-wipe")
    kept = pacer.take([("111111", CHATS[0])])
    client = redis.Redis.from_url(redis_url)
    try:
        client.delete(*client.keys("test-kept-wipe:*"))
    finally:
        client.close()
    with pytest.raises(errors.PacerDeferred) as deferred:
        _sender(standin, pacer).send_document(
            CHATS[:1], _document(tmp_path), max_wait=0.5, reserved=kept
        )
    assert deferred.value.seconds > 0.5  # the group's window after the wipe, not at once
    assert standin.requests("sendDocument") == []


def test_redis_lost_while_an_upload_is_held_for_its_slot_is_tried_again_not_an_error(
    standin: BotApiStandin, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pacer's Redis restarts while the gate holds the body's last block (a broker restart
    # in the middle of an upload): nothing reached Telegram, so the part goes again, once.
    hold = arrival.Gate.hold
    lost = [redis.exceptions.ConnectionError("Connection reset by peer")]

    def flaky_hold(gate: arrival.Gate) -> None:
        if lost:
            raise lost.pop()
        hold(gate)

    monkeypatch.setattr(arrival.Gate, "hold", flaky_hold)
    done = _sender(standin, _pacer(redis_url, "test-held-reset")).send_document(
        CHATS[:1], _document(tmp_path)
    )
    assert not lost
    assert [m["message_id"] for m in standin.messages()] == [done.document.message_id]


def test_without_a_pacer_the_first_bot_sends_into_the_first_chat(
    standin: BotApiStandin, tmp_path: Path
) -> None:
    sender = _sender(standin, None)
    done = sender.send_document(CHATS, _document(tmp_path))
    assert (done.bot_id, done.chat_id) == ("111111", "-1001")


def test_an_upload_into_a_free_chat_is_held_no_later_than_it_could_have_ended(
    standin: BotApiStandin, redis_url: str, tmp_path: Path
) -> None:
    # It begins ahead of the time foreseen (arrival.AHEAD), but its slot stays where it can end:
    # a slot pushed later would hold the last block of every part the link bounds.
    size = 4 * arrival.MIN_BODY
    rate = arrival.Throughput()
    rate.observe(size, 1.0)  # foreseen: 1 s; over loopback it takes milliseconds
    holds: list[float] = []
    path = tmp_path / "part"
    path.write_bytes(os.urandom(size))
    with telegram.TelegramClient(TOKENS["111111"], standin.url) as client:
        sender = fleetsender.Sender(
            lambda bot: client,
            bots=["111111"],
            pacer=_pacer(redis_url, f"test-ahead-{uuid.uuid4().hex[:8]}"),
            max_attempts=4,
            rate=rate,
            sleep=holds.append,  # the gate's hold, recorded instead of slept
        )
        sender.send_document([CHATS[0]], path)
    assert len(holds) == 1
    assert 0.8 < holds[0] < 1.1, holds  # the slot 1 s away, as foreseen
