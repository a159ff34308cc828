"""A message Telegram answered (Pacer.landed): the next one in its chat waits one window from the
answer, not from the slot plus the margin a message still on its way needs.

Windows are scaled down to tenths of a second; assertions are on reserved times (Redis'
microseconds), never on how long the test took.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from worker.telegram.pacer import Pacer, Reservation

BOT = "111111"
GROUP = "-1001"
WINDOW = 0.2  # seconds: the chat budget here
MARGIN = 0.3  # seconds: larger than the window, so a margin left in a gap is plain to see
MICRO = 1_000_000
US_WINDOW, US_MARGIN = round(WINDOW * MICRO), round(MARGIN * MICRO)


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(redis_url)
    yield conn
    conn.close()


@pytest.fixture
def prefix() -> str:
    return f"test-landed-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def pacer(client: redis.Redis, prefix: str) -> Pacer:
    return Pacer(client, chat_window=WINDOW, group_per_minute=0, margin=MARGIN, key_prefix=prefix)


def _now_us(slot: Reservation) -> int:
    return slot.at_us - round(slot.wait * MICRO)


def test_in_flight_the_window_is_widened_by_the_margin(pacer: Pacer) -> None:
    first = pacer.take([(BOT, GROUP)])
    second = pacer.take([(BOT, GROUP)])
    assert second.at_us - first.at_us == US_WINDOW + US_MARGIN


def test_after_the_answer_the_next_slot_is_one_window_from_it(pacer: Pacer) -> None:
    first = pacer.take([(BOT, GROUP)])
    pacer.landed(first)
    second = pacer.take([(BOT, GROUP)])
    answered = _now_us(second)  # no later than now: the answer came before this take
    assert second.at_us - first.at_us < US_WINDOW + US_MARGIN  # the margin is not spent
    # Yet never before one window after the answer, the latest Telegram can have counted it.
    assert second.at_us >= first.at_us + US_WINDOW
    assert second.at_us <= answered + US_WINDOW


def test_an_answer_after_the_margin_moves_the_next_slot_later(pacer: Pacer) -> None:
    first = pacer.take([(BOT, GROUP)])
    while pacer.until(first) > -2 * MARGIN:  # answered well after slot + margin
        time.sleep(0.05)
    pacer.landed(first)
    second = pacer.take([(BOT, GROUP)])
    assert second.at_us >= first.at_us + 2 * US_MARGIN + US_WINDOW


def test_a_released_slot_is_not_brought_back_by_landed(
    pacer: Pacer, client: redis.Redis, prefix: str
) -> None:
    slot = pacer.take([(BOT, GROUP)])
    pacer.release(slot)
    pacer.landed(slot)
    keys = client.keys(f"{prefix}:*")
    assert all(client.type(key) != b"zset" or client.zcard(key) == 0 for key in keys)
    again = pacer.take([(BOT, GROUP)])
    assert again.wait <= 0.001  # nothing holds the chat


def test_a_margin_is_finite_and_not_negative(client: redis.Redis) -> None:
    for margin in (-0.1, float("inf")):
        with pytest.raises(ValueError, match="margin"):
            Pacer(client, margin=margin)
