"""Slots reserved for an upload's end (worker.telegram.arrival, Pacer.take's lead) on a real Redis.

Windows are scaled down to tenths of a second; every assertion is on reserved times (Redis'
microseconds), never on how long the test took.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from worker import errors
from worker.telegram.arrival import MIN_BODY, Gate, Throughput
from worker.telegram.pacer import Pacer, Reservation

BOT = "111111"
GROUP = "-1001"
WINDOW = 0.2  # seconds: the chat budget here
MICRO = 1_000_000


@pytest.fixture
def pacer(redis_url: str) -> Iterator[Pacer]:
    client = redis.Redis.from_url(redis_url)
    prefix = f"test-arrival-{uuid.uuid4().hex[:8]}"
    yield Pacer(client, chat_window=WINDOW, group_per_minute=0, key_prefix=prefix)
    client.close()


def _now_us(pacer: Pacer, slot: Reservation) -> int:
    return slot.at_us - round(slot.wait * MICRO)


def test_a_lead_puts_the_slot_at_the_uploads_end(pacer: Pacer) -> None:
    slot = pacer.take([(BOT, GROUP)], lead=0.5)
    assert slot.at_us - _now_us(pacer, slot) == 500_000
    assert 0.4 < pacer.until(slot) <= 0.5


def test_a_lead_shorter_than_the_chats_window_adds_nothing_to_the_next_slot(pacer: Pacer) -> None:
    first = pacer.take([(BOT, GROUP)], lead=0.05)
    second = pacer.take([(BOT, GROUP)], lead=0.05)
    # One window after the first message's arrival, not after its upload's start plus a margin.
    assert second.at_us - first.at_us == round(WINDOW * MICRO)


def test_a_long_lead_is_not_delayed_by_a_slot_before_it(pacer: Pacer) -> None:
    first = pacer.take([(BOT, GROUP)])
    long_upload = pacer.take([(BOT, GROUP)], lead=1.0)
    assert long_upload.at_us - _now_us(pacer, long_upload) == MICRO
    assert long_upload.at_us - first.at_us >= round(WINDOW * MICRO)


def test_a_slot_retaken_after_its_time_keeps_the_window_to_the_next_one(pacer: Pacer) -> None:
    late = pacer.take([(BOT, GROUP)])
    following = pacer.take([(BOT, GROUP)])
    moved = pacer.retake(late)
    # The late message now arrives after `following`, a whole window after it.
    assert moved.at_us - following.at_us >= round(WINDOW * MICRO)
    assert moved.id != late.id


def test_a_lead_is_finite_and_not_negative(pacer: Pacer) -> None:
    for lead in (-0.1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="lead"):
            pacer.take([(BOT, GROUP)], lead=lead)


def test_a_kept_slot_survives_a_tasks_retry_and_nothing_else_does(pacer: Pacer) -> None:
    slot = pacer.take([(BOT, GROUP)], lead=0.3)
    kept = Reservation.from_json(slot.to_json())
    assert kept is not None
    assert (kept.bot_id, kept.chat_id, kept.id, kept.at_us) == (
        slot.bot_id,
        slot.chat_id,
        slot.id,
        slot.at_us,
    )
    assert abs(pacer.until(kept) - pacer.until(slot)) < 0.01
    for bad in (None, "slot", {"bot_id": "123:secret", "chat_id": GROUP, "id": "x", "at_us": "1"}):
        assert Reservation.from_json(bad) is None
    assert Reservation.from_json({"bot_id": BOT}) is None


def test_throughput_foresees_an_upload_from_the_ones_before() -> None:
    rate = Throughput()
    assert rate.expected(10 * MIN_BODY) == 0.0  # nothing measured yet
    rate.observe(MIN_BODY - 1, 1.0)  # too small to say anything about the link
    assert rate.expected(10 * MIN_BODY) == 0.0
    rate.observe(4 * MIN_BODY, 2.0)
    assert rate.expected(4 * MIN_BODY) == pytest.approx(2.0)
    rate.observe(4 * MIN_BODY, 1.0)  # faster now: the estimate moves part of the way
    assert 1.0 < rate.expected(4 * MIN_BODY) < 2.0


def test_an_upload_begins_ahead_of_the_time_foreseen() -> None:
    rate = Throughput()
    assert rate.ahead(4 * MIN_BODY) == 0.0  # nothing measured yet: no lead at all
    rate.observe(4 * MIN_BODY, 2.0)
    # Begun late it would be late for its slot: it begins early and waits at the gate.
    assert rate.ahead(4 * MIN_BODY) > rate.expected(4 * MIN_BODY) + 0.2


def test_a_held_upload_whose_bytes_had_arrived_only_nudges_the_estimate() -> None:
    size = 4 * MIN_BODY
    rate = Throughput()
    rate.observe(size, 2.0)  # 2 s, not held
    # Held 1 s and answered promptly: the link took between 1 and 2 s; a tenth of the way.
    rate.observe(size, 2.0, held=1.0, after=0.01)
    assert 1.8 < rate.expected(size) < 2.0
    # Held 0.5 s but answered 0.2 s later than the quickest held upload: its bytes were still
    # arriving at the slot, so the hold was the link's and the whole 2.5 s count.
    rate.observe(size, 2.5, held=0.5, after=0.21)
    assert rate.expected(size) > 2.0


def test_a_slower_upload_weighs_more_than_a_faster_one() -> None:
    size = 4 * MIN_BODY
    slower, faster = Throughput(), Throughput()
    for rate in (slower, faster):
        rate.observe(size, 2.0)
    slower.observe(size, 4.0)
    faster.observe(size, 1.0)
    # Rates: 0.5 → 0.25 with weight 0.6; 0.5 → 1.0 with weight 0.3 (in sizes a second).
    assert slower.expected(size) == pytest.approx(size / (size / 2 - 0.6 * size / 4))
    assert faster.expected(size) == pytest.approx(size / (size / 2 + 0.3 * size / 2))


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _gate(pacer: Pacer, slot: Reservation, clock: _Clock) -> Gate:
    return Gate(pacer, slot, Throughput(), 4 * MIN_BODY, sleep=clock.sleep, clock=clock)


def test_an_upload_done_early_holds_its_last_block_until_the_slot(pacer: Pacer) -> None:
    clock = _Clock()
    slot = pacer.take([(BOT, GROUP)], lead=0.5)
    gate = _gate(pacer, slot, clock)
    clock.now += 0.2  # the body went faster than foreseen
    gate.hold()
    assert gate.slot == slot
    assert len(clock.slept) == 1
    assert 0.2 < clock.slept[0] <= 0.3


class _SlowUntil(Pacer):
    """A pacer whose call to Redis takes `lag` of the caller's clock before Redis reads its own:
    a round trip, or a thread waiting for the GIL on a busy worker."""

    def __init__(self, client: redis.Redis, clock: _Clock, lag: float) -> None:
        prefix = f"test-arrival-{uuid.uuid4().hex[:8]}"
        super().__init__(client, chat_window=WINDOW, group_per_minute=0, key_prefix=prefix)
        self._clock, self._lag = clock, lag

    def until(self, reservation: Reservation) -> float:
        self._clock.now += self._lag
        return super().until(reservation)


def test_the_hold_ends_no_sooner_than_the_slot_however_slow_the_call_to_redis(
    redis_url: str,
) -> None:
    # The next message in a chat is reserved one window after Telegram's answer to the one
    # before, to the millisecond: a last block let go before its slot is a 429.
    client = redis.Redis.from_url(redis_url)
    clock = _Clock()
    slow = _SlowUntil(client, clock, lag=0.05)
    slot = slow.take([(BOT, GROUP)], lead=0.5)
    gate = _gate(slow, slot, clock)
    gate.hold()
    # The slot is 0.5 s after the take, less the few real milliseconds the test took since.
    assert clock.slept[0] > 0.48, clock.slept
    client.close()


def test_an_upload_done_late_moves_its_slot(pacer: Pacer) -> None:
    clock = _Clock()
    slot = pacer.take([(BOT, GROUP)])
    following = pacer.take([(BOT, GROUP)])
    gate = _gate(pacer, slot, clock)
    clock.now += 0.05  # past the slot: the message would land 0.05 s nearer `following`
    gate.hold()
    assert gate.slot.id != slot.id
    assert gate.slot.at_us - following.at_us >= round(WINDOW * MICRO)
    assert clock.slept == [pytest.approx(gate.slot.wait)]


def test_a_late_upload_whose_next_slot_is_far_is_dropped_not_held(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    busy = Pacer(client, chat_window=30.0, group_per_minute=0, key_prefix=f"t-{uuid.uuid4().hex}")
    clock = _Clock()
    slot = busy.take([(BOT, GROUP)])
    following = busy.take([(BOT, GROUP)])  # 30 s later: the late message must go after it
    gate = _gate(busy, slot, clock)
    clock.now += 0.05
    with pytest.raises(errors.TelegramSlotMoved, match="sent again"):
        gate.hold()
    assert clock.slept == []
    # Neither the late slot nor its far replacement stays in the budget: the next take is free
    # right after `following`'s window.
    again = busy.take([(BOT, GROUP)])
    assert again.at_us - following.at_us == 30 * MICRO
    client.close()


def test_an_upload_late_within_the_tolerance_keeps_its_slot(pacer: Pacer) -> None:
    clock = _Clock()
    slot = pacer.take([(BOT, GROUP)])
    pacer.take([(BOT, GROUP)])
    gate = Gate(
        pacer, slot, Throughput(), 4 * MIN_BODY, sleep=clock.sleep, clock=clock, tolerance=0.1
    )
    clock.now += 0.05  # late, but by less than the margin's share for it
    gate.hold()
    assert gate.slot == slot
    assert clock.slept == []
