"""The fleet's Telegram counters in Redis: what workers increment, the exporter reads back."""

from __future__ import annotations

import threading
import time

import redis

from standin.server import BotApiStandin
from tests.unit.conftest import CHAT, TOKEN
from worker.metrics import counters
from worker.telegram import counters as telegram_counters
from worker.telegram.client import TelegramClient
from worker.telegram.pacer import Pacer


def test_two_processes_worth_of_increments_add_up(redis_client: redis.Redis) -> None:
    def work() -> None:
        own = counters.RedisCounters(redis_client)
        for _ in range(50):
            own.request("sendDocument", "ok")
        own.request("sendDocument", "retry_after")
        own.transferred("sent", 1000)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    totals = counters.read(redis_client)
    assert totals.requests == {("sendDocument", "ok"): 200, ("sendDocument", "retry_after"): 4}
    assert totals.bytes == {"sent": 4000, "fetched": 0}
    assert (totals.pacer_waits, totals.pacer_wait_sum) == (0, 0.0)


def test_a_client_counts_into_redis(redis_client: redis.Redis) -> None:
    with BotApiStandin(tokens=[TOKEN], chats=[int(CHAT)]) as standin:
        standin.set_faults(["429:0"], methods=["getMe"])
        client = TelegramClient(
            TOKEN, standin.url, sleep=lambda _: None, counters=counters.RedisCounters(redis_client)
        )
        with client:
            client.get_me()
    totals = counters.read(redis_client)
    assert totals.requests == {("getMe", "retry_after"): 1, ("getMe", "ok"): 1}
    raw = str(redis_client.hgetall(counters.KEY))
    assert TOKEN.split(":", 1)[1] not in raw


def test_the_pacer_reports_its_waits(redis_client: redis.Redis) -> None:
    recorded = counters.RedisCounters(redis_client)
    pacer = Pacer(redis_client, key_prefix="test-pacer", chat_window=0.3, counters=recorded)
    pair = [("123456", "-1001")]
    for _ in range(3):
        pacer.acquire(pair)
    totals = counters.read(redis_client)
    assert totals.pacer_waits == 3
    assert 0.4 <= totals.pacer_wait_sum <= 1.5  # the 2nd and 3rd wait about 0.3 s each


def test_counting_never_raises_when_redis_is_gone() -> None:
    lost = counters.RedisCounters(counters.client_for("redis://127.0.0.1:1/0"))
    started = time.monotonic()
    lost.request("getMe", "ok")
    lost.transferred(telegram_counters.SENT, 10)
    lost.paced(1.0)
    assert time.monotonic() - started < 3 * counters.TIMEOUT  # no retry loop per count
