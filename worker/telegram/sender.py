"""Messages sent through the fleet pacer: each try waits for a slot of a (bot, chat) pair.

    sender = Sender(clients, bots=("123456", "654321"), pacer=pacer, max_attempts=8)
    sent = sender.send_document(("-1001", "-1002"), path, caption=...)
    # sent.bot_id, sent.chat_id: where the message went; sent.document: its Telegram ids

The pacer picks the pair with the earliest free slot among every configured bot and every
candidate chat. A 429 closes its chat to the whole fleet (Pacer.close_chat) and the next try takes
a new slot after the closure, perhaps in another chat, instead of sleeping in tenacity. Without a
pacer (no Redis) the first bot sends into the first chat, retried by the client as before.
Why: docs/fleet.md.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from redis import exceptions as redis_exceptions

from worker import errors
from worker.telegram import arrival, transport
from worker.telegram import client as telegram
from worker.telegram import pacer as fleetpacer

log = logging.getLogger("worker.telegram.client")

# The pacer's Redis could not be reached: worth another try after a while.
PACER_DOWN = (
    redis_exceptions.ConnectionError,
    redis_exceptions.TimeoutError,
    redis_exceptions.BusyLoadingError,
)

# Called with the seconds a message will wait for its slot, before the wait begins.
OnWait = Callable[[float], None]
Slot = fleetpacer.Reservation
# Takes a slot among the pairs, waiting with the given function: Pacer.acquire, or an upload's.
Take = Callable[[Sequence[tuple[str, str]], Callable[[float], None]], Slot]
_T = TypeVar("_T")


@dataclass(frozen=True)
class Sent:
    """A document sent: its Telegram ids, the bot that sent it and the chat it was sent to."""

    document: telegram.SentDocument
    bot_id: str
    chat_id: str  # the chat asked for; document.chat_id is where it landed (after a migration)


class Sender:
    """Sends documents and messages within the fleet-wide budgets; one per thread."""

    def __init__(
        self,
        clients: Callable[[str], telegram.TelegramClient],
        *,
        bots: Sequence[str],
        pacer: fleetpacer.Pacer | None,
        max_attempts: int,
        rate: arrival.Throughput | None = None,
        late_tolerance: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not bots:
            raise errors.ConfigError("TELEGRAM_BOT_TOKEN is not set: no bot to send with")
        self._clients = clients
        self._bots = tuple(bots)
        self._pacer = pacer
        self._max_attempts = max_attempts
        self._rate = rate or arrival.Throughput()
        self._late_tolerance = late_tolerance  # seconds an upload may end after its slot
        self._sleep = sleep

    def send_document(
        self,
        chats: Sequence[str],
        path: Path,
        *,
        filename: str | None = None,
        caption: str | None = None,
        thread_id: int | None = None,
        on_progress: Callable[[int], None] | None = None,
        on_wait: OnWait | None = None,
        max_wait: float | None = None,
        reserved: fleetpacer.Reservation | None = None,
        on_left: Callable[[], None] | None = None,
        growing: telegram.Growing | None = None,
    ) -> Sent:
        """Send `path` into one of `chats` with one of the bots, whichever is free first.

        The slot is reserved for when the upload will end (its size over this process's
        measured rate) and the body's last block is held until then (worker.telegram.arrival).
        With `max_wait`, an upload that would have to wait longer to start raises PacerDeferred
        with its slot kept, which the next try passes back as `reserved`. `on_left()` runs as
        the body's last block leaves, before the answer (worker.backup.turns). With `growing`,
        the document is read as it is written (TelegramClient.send_document); its PartCut
        gives the slot back and is raised.
        """
        gates: list[arrival.Gate] = []

        def before_end() -> None:
            if gates:
                gates[-1].hold()
            if on_left is not None:
                on_left()

        def send(bot: str, chat: str, retry: bool) -> Sent:
            document = self._clients(bot).send_document(
                chat,
                path,
                filename=filename,
                caption=caption,
                thread_id=thread_id,
                on_progress=on_progress,
                before_end=before_end if gates or on_left is not None else None,
                retry=retry,
                growing=growing,
            )
            return Sent(document, bot, chat)

        if self._pacer is None:
            return self._paced("sendDocument", chats, send, on_wait)
        pacer = self._pacer
        on_disk = path.stat().st_size if growing is None and path.is_file() else 0
        size = growing.size if growing is not None else on_disk
        kept = [reserved] if reserved is not None else []
        reserved_id = reserved.id if reserved is not None else None

        def take(pairs: Sequence[tuple[str, str]], wait: Callable[[float], None]) -> Slot:
            # The slot is no sooner than the upload can end; the upload begins ahead of it, as
            # one that begins late is late for its slot (arrival.AHEAD).
            lead, ahead = self._rate.expected(size), self._rate.ahead(size)
            while True:
                slot = kept.pop() if kept else pacer.take(pairs, lead=lead)
                if slot.id == reserved_id and not pacer.holds(slot):
                    continue  # kept across a wipe of Redis: the chat may be closed for a window
                if (slot.bot_id, slot.chat_id) not in pairs:
                    pacer.release(slot)  # a chat retired or migrated since it was kept
                    continue
                start = pacer.until(slot) - ahead
                if max_wait is not None and start > max_wait:
                    pacer.waited(start)  # spent in a countdown rather than a thread, but waited
                    if on_wait is not None:
                        on_wait(start)
                    raise errors.PacerDeferred(
                        f"the next Telegram slot in chat {slot.chat_id} is {start:.0f} s away",
                        seconds=start,
                        slot=slot.to_json(),
                    )
                if start > 0:
                    wait(start)
                if pacer.still_open(slot):
                    gates.append(
                        arrival.Gate(
                            pacer,
                            slot,
                            self._rate,
                            size,
                            sleep=self._sleep,
                            tolerance=self._late_tolerance,
                        )
                    )
                    return slot
                pacer.release(slot)

        def held() -> float:
            return gates[-1].held if gates else 0.0

        def answered(slot: Slot) -> Slot:
            if not gates:
                return slot
            # A growing document's waits for its writer are not the link's time.
            gates[-1].answered(idle=growing.waited if growing is not None else 0.0)
            return gates[-1].slot  # the gate may have moved it

        def dropped(slot: Slot) -> None:
            # Nothing reached Telegram: the slot (perhaps moved by the gate) goes back.
            with contextlib.suppress(*PACER_DOWN):  # it then lapses by itself
                pacer.release(gates[-1].slot if gates else slot)

        return self._paced(
            "sendDocument",
            chats,
            send,
            on_wait,
            take=take,
            held=held,
            answered=answered,
            dropped=dropped,
        )

    def overlaps(self, size: int) -> bool:
        """Whether an upload of `size` bytes takes longer than the spacing the pacer keeps after
        a message still unanswered: the link is then the bound, and it may start before the
        message before it is answered (worker.backup.turns). False without the pacer."""
        if self._pacer is None:
            return False
        window = self._pacer.in_flight_window
        return window > 0 and self._rate.expected(size) >= window

    def width(self, chats: Sequence[str]) -> int:
        """How many (bot, chat) pairs a message may go over: 1 without the pacer."""
        return len(chats) * len(self._bots) if self._pacer is not None else 1

    def give_back(self, slot: dict[str, str]) -> None:
        """Release a slot kept by a PacerDeferred that will not be used."""
        kept = fleetpacer.Reservation.from_json(slot)
        if self._pacer is not None and kept is not None:
            with contextlib.suppress(*PACER_DOWN):  # it then lapses by itself
                self._pacer.release(kept)

    def send_message(
        self, chat: str, text: str, *, thread_id: int | None = None, on_wait: OnWait | None = None
    ) -> int:
        """Send a text message into `chat`; returns its message_id."""

        def send(bot: str, target: str, retry: bool) -> int:
            return self._clients(bot).send_message(target, text, thread_id=thread_id, retry=retry)

        return self._paced("sendMessage", (chat,), send, on_wait)

    def _paced(
        self,
        method: str,
        chats: Sequence[str],
        send: Callable[[str, str, bool], _T],
        on_wait: OnWait | None,
        *,
        take: Take | None = None,
        held: Callable[[], float] = lambda: 0.0,
        answered: Callable[[Slot], Slot] = lambda slot: slot,
        dropped: Callable[[Slot], None] = lambda slot: None,
    ) -> _T:
        if not chats:
            raise errors.ConfigError("TELEGRAM_CHAT_ID is not set: no chat to send to")
        if self._pacer is None:
            return send(self._bots[0], chats[0], True)
        pacer = self._pacer
        pairs = [(bot, chat) for chat in chats for bot in self._bots]
        failures = 0
        waited = [0.0]

        def wait(seconds: float) -> None:
            waited[0] += seconds
            if on_wait is not None:
                on_wait(seconds)
            self._sleep(seconds)

        while True:
            try:
                slot = pacer.acquire(pairs, sleep=wait) if take is None else take(pairs, wait)
            except PACER_DOWN as exc:
                # The pacer's Redis (often the broker) is restarting: nothing was sent, so wait
                # and try again, counted like a network error, rather than send unpaced.
                failures += 1
                self._pacer_down(method, exc, failures)
                continue
            try:
                result = send(slot.bot_id, slot.chat_id, False)
            except PACER_DOWN as exc:
                # Raised by the arrival gate's hold, before the body's last block left: Telegram
                # has no message. Wait and try again, as when the slot could not be taken.
                failures += 1
                self._pacer_down(method, exc, failures)
                continue
            except errors.PartCut:
                dropped(slot)
                raise
            except errors.TelegramSlotMoved as exc:
                # Nothing reached Telegram and nothing failed: the part waits for a later slot.
                log.info("%s: %s", method, exc.message)
                continue
            except errors.TelegramRetryable as exc:
                failures += 1
                if failures >= self._max_attempts:
                    raise
                if isinstance(exc, errors.TelegramRetryAfter):
                    # Every worker stops sending there until the closure ends, this one too.
                    # Telegram counted no message: the slot goes back to the budgets.
                    with contextlib.suppress(*PACER_DOWN):  # the next 429 closes it then
                        pacer.close_chat(slot.chat_id, exc.retry_after)
                        pacer.release(slot)
                    delay = 0.0
                else:
                    delay = _backoff(failures)
                log.warning(
                    "%s: try %d of %d with bot %s in chat %s failed, %s: %s",
                    method,
                    failures,
                    self._max_attempts,
                    slot.bot_id,
                    slot.chat_id,
                    "waiting for a new slot" if delay == 0 else f"retrying in {delay:.1f} s",
                    exc.message,
                )
                if delay:
                    self._sleep(delay)
                continue
            # Answered, so counted by now: the chat's next message waits from here, not from
            # the slot plus the margin. Without Redis the entry stays at its slot (later).
            with contextlib.suppress(*PACER_DOWN):
                pacer.landed(answered(slot))
            if take is not None:
                waited[0] += held()
                pacer.waited(waited[0])
            # Where each message went and how long it waited: the fleet's pacing, per message.
            log.info(
                "%s: bot %s, chat %s, %.2f s waited for the pacer",
                method,
                slot.bot_id,
                slot.chat_id,
                waited[0],
            )
            return result

    def _pacer_down(self, method: str, exc: BaseException, failures: int) -> None:
        """Wait before the next try after the pacer's Redis failed (nothing was sent), or give up
        after the client's attempts with a network error that says so."""
        if failures >= self._max_attempts:
            raise errors.TelegramNetworkError(
                f"{method}: the fleet pacer's Redis is unreachable "
                f"({type(exc).__name__}); nothing was sent",
                method=method,
            ) from None
        delay = _backoff(failures)
        log.warning("%s: the pacer's Redis is unreachable, retrying in %.1f s", method, delay)
        self._sleep(delay)


def _backoff(failures: int) -> float:
    # The client's own policy for 5xx and network errors: doubling, jittered, at most 30 s.
    base = transport.BACKOFF_MULTIPLIER * 2 ** (failures - 1)
    return float(min(base, 30.0) + random.uniform(0, transport.BACKOFF_JITTER))  # noqa: S311
