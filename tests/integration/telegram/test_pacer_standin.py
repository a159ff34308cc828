"""The pacer in front of the stand-in enforcing the same limits: a small fleet sends without 429s.

The stand-in counts a message when its request arrives, a few milliseconds after the slot; the
pacer's windows are a little longer than the stand-in's to absorb that (docs/fleet.md, "Arrival").
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator

import pytest
import redis
import requests

from standin.limits import Limits, Rate
from standin.server import BotApiStandin
from worker.telegram.pacer import Pacer, bot_id

TOKENS = ["111111:first-secret", "222222:second-secret"]
CHATS = [-1001, -1002]
MARGIN = 0.03  # seconds added to each of the pacer's windows


@pytest.fixture
def standin() -> Iterator[BotApiStandin]:
    limits = Limits(chat=Rate(1, 0.05), group=Rate(5, 0.5), bot=Rate(8, 0.5))
    with BotApiStandin(tokens=TOKENS, chats=CHATS, limits=limits) as server:
        yield server


def test_three_workers_two_bots_two_groups_get_no_429(
    standin: BotApiStandin, redis_url: str
) -> None:
    tokens = {bot_id(token): token for token in TOKENS}
    pairs = [(bot, str(chat)) for bot in tokens for chat in CHATS]
    statuses: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        client = redis.Redis.from_url(redis_url)
        pacer = Pacer(
            client,
            group_per_minute=5,
            bot_per_second=8,
            chat_window=0.05 + MARGIN,
            group_window=0.5 + MARGIN,
            bot_window=0.5 + MARGIN,
            key_prefix="test-pacer-standin",
        )
        with requests.Session() as session:
            for n in range(10):
                slot = pacer.acquire(pairs)
                response = session.post(
                    f"{standin.url}/bot{tokens[slot.bot_id]}/sendMessage",
                    data={"chat_id": slot.chat_id, "text": f"part {n}"},
                    timeout=10,
                )
                with lock:
                    statuses.append(response.status_code)
        client.close()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [200] * 30
    messages = standin.messages()
    assert collections.Counter(m["bot_id"] for m in messages) == {111111: 15, 222222: 15}
    assert collections.Counter(m["chat_id"] for m in messages) == {-1001: 15, -1002: 15}
