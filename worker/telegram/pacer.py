"""The fleet-wide pacer: every worker takes a slot from the chat's and the bot's budget in Redis.

    pacer = Pacer(redis.Redis.from_url(url))
    slot = pacer.acquire([(bot_id("123456:ABC..."), "-1001234567890")])
    ... send with slot.bot_id into slot.chat_id ...
    pacer.landed(slot)   # answered: Telegram counted it by now, not at slot + margin
    # on a 429: pacer.close_chat(slot.chat_id, retry_after), then acquire again

Telegram's limits belong to a bot and a chat, not to a process, so the budgets live in Redis and
are reserved by one Lua script (worker.telegram.pacer_scripts) on Redis' clock. Why it is built
this way: docs/fleet.md.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis

from worker import redisconn, settings
from worker.telegram import counters, pacer_scripts

CHAT_PER_SECOND = 1  # messages in one chat per CHAT_WINDOW (Bots FAQ: "avoid more than one")
CHAT_WINDOW = 1.0  # seconds
GROUP_PER_MINUTE = 20  # messages to one group, supergroup or channel per GROUP_WINDOW
GROUP_WINDOW = 60.0  # seconds
BOT_PER_SECOND = 30  # messages from one bot per BOT_WINDOW, all chats together
BOT_WINDOW = 1.0  # seconds
KEY_PREFIX = "backup-worker:pacer"

_BOT_ID = re.compile(r"^[0-9]{1,20}$")
_CHAT_ID = re.compile(r"^(-?[0-9]{1,20}|@[A-Za-z0-9_]{1,64})$")
_MICRO = 1_000_000


def bot_id(token: str) -> str:
    """The bot's public id, the digits before the token's ':'; the secret part never leaves here."""
    head, sep, _ = token.partition(":")
    if not sep or not _BOT_ID.match(head):
        raise ValueError("a bot token looks like 123456:ABC..., with digits before the ':'")
    return head


def is_group(chat_id: str) -> bool:
    """Groups, supergroups and channels (negative ids, @channel names) get the per-minute budget."""
    return chat_id.startswith(("-", "@"))


@dataclass(frozen=True)
class Reservation:
    """A slot: send with `bot_id` into `chat_id` at `at` (Redis time, seconds), `wait` from now."""

    bot_id: str
    chat_id: str
    at: float
    wait: float
    id: str
    at_us: int  # the exact reserved time, as the budgets hold it

    def to_json(self) -> dict[str, str]:
        """The reservation as a task's retry carries it to the step's next run."""
        return {
            "bot_id": self.bot_id,
            "chat_id": self.chat_id,
            "id": self.id,
            "at_us": str(self.at_us),
        }

    @classmethod
    def from_json(cls, value: object) -> Reservation | None:
        """A reservation carried by a retry; None for anything else (it is only a hint)."""
        if not isinstance(value, dict):
            return None
        try:
            bot, chat = str(value["bot_id"]), str(value["chat_id"])
            at_us = int(str(value["at_us"]))
            _check(bot, chat)
        except (KeyError, ValueError):
            return None
        return cls(bot, chat, at_us / _MICRO, 0.0, str(value["id"]), at_us)


class Pacer:
    """Fleet-wide budgets per chat, per group and per bot, with closures after 429 answers.

    Budgets are `count` messages per sliding `window` seconds; a count of 0 turns one off. Several
    Pacer instances (threads, processes, hosts) with the same Redis and prefix share the budgets.
    """

    def __init__(
        self,
        redis_client: redis.Redis,
        *,
        chat_per_second: int = CHAT_PER_SECOND,
        group_per_minute: int = GROUP_PER_MINUTE,
        bot_per_second: int = BOT_PER_SECOND,
        chat_window: float = CHAT_WINDOW,
        group_window: float = GROUP_WINDOW,
        bot_window: float = BOT_WINDOW,
        key_prefix: str = KEY_PREFIX,
        counters: counters.Counters = counters.NONE,
        margin: float = 0.0,
    ) -> None:
        if not 0 <= margin < math.inf:
            raise ValueError("a margin is 0 or a positive, finite number of seconds")
        # A message in flight may reach Telegram up to `margin` after its slot: every window is
        # widened by it, and an answered message's entry moves back to its answer (landed()).
        chat_window, group_window, bot_window = (
            chat_window + margin,
            group_window + margin,
            bot_window + margin,
        )
        for count in (chat_per_second, group_per_minute, bot_per_second):
            if count < 0:
                raise ValueError("a budget's count is 0 (off) or more")
        for window in (chat_window, group_window, bot_window):
            if not window > 0:
                raise ValueError("a budget's window is a positive number of seconds")
        self._redis = redis_client
        self._prefix = key_prefix
        self._counters = counters
        self._budgets = (
            (chat_per_second, _micros(chat_window)),
            (group_per_minute, _micros(group_window)),
            (bot_per_second, _micros(bot_window)),
        )
        # The window a chat waits after Redis lost the budgets: its longest budget that is on.
        self._windows = {
            "chat": chat_window if chat_per_second else 0.0,
            "group": max(
                group_window if group_per_minute else 0.0, chat_window if chat_per_second else 0.0
            ),
        }
        self._margin_us = round(margin * _MICRO)
        self._take = redis_client.register_script(pacer_scripts.TAKE)
        self._land = redis_client.register_script(pacer_scripts.LAND)
        self._close = redis_client.register_script(pacer_scripts.CLOSE)
        self._epoch: str | None = None
        self._wiped_at: float | None = None  # time.monotonic() when a wiped Redis was seen

    @property
    def in_flight_window(self) -> float:
        """Seconds from a message still unanswered to the next one in its chat: the chat's
        window widened by the margin (0 with the chat budget off)."""
        return self._windows["chat"]

    def take(self, pairs: Sequence[tuple[str, str]], *, lead: float = 0.0) -> Reservation:
        """Reserve the earliest slot among the candidate (bot_id, chat_id) pairs.

        The slot is when Telegram will see the message: at least `lead` seconds from now, the
        time its upload is expected to take (0 for a short message).

        Among pairs free at the same time, the least recently used bot wins, then the least
        recently used chat, then the order given. The caller waits `wait` seconds, checks
        still_open(), and sends; a slot it will not use goes back with release().
        """
        if not pairs:
            raise ValueError("take() needs at least one (bot_id, chat_id) pair")
        if not 0 <= lead < math.inf:
            raise ValueError("a lead is 0 or a positive, finite number of seconds")
        keys: list[str] = []
        flags: list[str] = []
        for bot, chat in pairs:
            _check(bot, chat)
            keys += self._keys(bot, chat)
            flags.append("1" if is_group(chat) else "0")
        self._after_a_wipe(pairs)
        member = uuid.uuid4().hex
        budgets = [str(value) for budget in self._budgets for value in budget]
        lead_us = str(round(lead * _MICRO))
        answer = self._take(keys=keys, args=[member, *budgets, lead_us, *flags])
        index, at_us, now_us = (int(_text(value)) for value in _sequence(answer))
        bot, chat = pairs[index - 1]
        return Reservation(
            bot_id=bot,
            chat_id=chat,
            at=at_us / _MICRO,
            wait=(at_us - now_us) / _MICRO,
            id=member,
            at_us=at_us,
        )

    def _after_a_wipe(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Close the chats of `pairs` for one whole window after Redis lost the budgets.

        A Redis restarted without persistence (or a failover to a replica that lagged) forgets
        what Telegram took in the last minute, and Telegram does not: a group's next 20
        messages would be refused. An epoch key, written once by the first pacer to find it
        missing, tells a pacer that saw another epoch before that the budgets are gone; for one
        window from then, each chat it sends to is closed until the window has passed. A new
        process (no epoch seen) cannot tell a wipe from a first start and sends at once.
        """
        key = f"{self._prefix}:epoch"
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(key, uuid.uuid4().hex, nx=True)
            pipe.get(key)
            _, raw = pipe.execute()
        epoch = _text(raw)
        if self._epoch is not None and epoch != self._epoch:
            self._wiped_at = time.monotonic()
        self._epoch = epoch
        if self._wiped_at is None:
            return
        since = time.monotonic() - self._wiped_at
        if since >= max(self._windows.values(), default=0.0):
            self._wiped_at = None
            return
        for _, chat in pairs:
            left = self._windows["group" if is_group(chat) else "chat"] - since
            if left > 0:
                self.close_chat(chat, left)

    def holds(self, reservation: Reservation) -> bool:
        """Whether the budgets still count the slot: a slot kept across a wipe of Redis (or past
        its window) is gone from them and must be taken anew, wipe check and all."""
        chat_key = self._keys(reservation.bot_id, reservation.chat_id)[0]
        return self._redis.zscore(chat_key, reservation.id) is not None

    def still_open(self, reservation: Reservation) -> bool:
        """False when a closure of its chat or bot, set after it was taken, covers its time."""
        ends = self._redis.mget(
            [self._closure("chat", reservation.chat_id), self._closure("bot", reservation.bot_id)]
        )
        return all(value is None or int(_text(value)) <= reservation.at_us for value in ends)

    def until(self, reservation: Reservation) -> float:
        """Seconds from now (Redis' clock) to the reserved time; negative once it has passed."""
        seconds, micros = self._redis.time()
        return (reservation.at_us - (int(seconds) * _MICRO + int(micros))) / _MICRO

    def retake(self, reservation: Reservation) -> Reservation:
        """Move a slot whose time has passed to the earliest free time of its own pair.

        An upload that ended after its slot reaches Telegram late, nearer the next message than
        the budgets allow: its old slot goes back and the message waits for a new one.
        """
        self.release(reservation)
        return self.take([(reservation.bot_id, reservation.chat_id)])

    def landed(self, reservation: Reservation) -> None:
        """Telegram has answered the message: it was counted before now, whatever its slot.

        Its entry in the budgets moves to now less the margin, so the next message in its chat
        waits one window from the answer, not from the slot plus the margin a message still on
        its way needs (docs/fleet.md, "Arrival"). A message sent one after another into a chat
        then goes at Telegram's rate plus one round trip.
        """
        chat_key, group_key, bot_key, _, _ = self._keys(reservation.bot_id, reservation.chat_id)
        windows = [str(window) for _, window in self._budgets]
        self._land(
            keys=[chat_key, group_key, bot_key],
            args=[reservation.id, str(self._margin_us), *windows],
        )

    def waited(self, seconds: float) -> None:
        """Report a message's whole wait for its slot (0 included) to the counters."""
        self._counters.paced(seconds)

    def release(self, reservation: Reservation) -> None:
        """Give an unused slot back, so it does not count against the budgets."""
        chat_key, group_key, bot_key, _, _ = self._keys(reservation.bot_id, reservation.chat_id)
        with self._redis.pipeline(transaction=False) as pipe:
            for key in (chat_key, group_key, bot_key):
                pipe.zrem(key, reservation.id)
            pipe.execute()

    def acquire(
        self,
        pairs: Sequence[tuple[str, str]],
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Reservation:
        """take(), sleep until the slot, and take again while a closure came in meanwhile.

        The whole wait is reported once to the counters (counters.paced), 0 included.
        """
        waited = 0.0
        while True:
            reservation = self.take(pairs)
            if reservation.wait > 0:
                sleep(reservation.wait)
                waited += reservation.wait
            if self.still_open(reservation):
                self._counters.paced(waited)
                return reservation
            self.release(reservation)

    def close_chat(self, chat_id: str, seconds: float) -> float:
        """Close a chat to the whole fleet for `seconds` (a 429's retry_after); returns its end."""
        _check(None, chat_id)
        return self._close_key(self._closure("chat", chat_id), seconds)

    def close_bot(self, bot: str, seconds: float) -> float:
        """Close a bot, in every chat, to the whole fleet for `seconds`; returns its end."""
        _check(bot, None)
        return self._close_key(self._closure("bot", bot), seconds)

    def _close_key(self, key: str, seconds: float) -> float:
        if not seconds > 0 or math.isinf(seconds):
            raise ValueError("a closure lasts a positive, finite number of seconds")
        ends = self._close(keys=[key], args=[_micros(seconds)])
        return int(_text(ends)) / _MICRO

    def _keys(self, bot: str, chat: str) -> list[str]:
        return [
            f"{self._prefix}:chat:{chat}",
            f"{self._prefix}:group:{chat}",
            f"{self._prefix}:bot:{bot}",
            self._closure("chat", chat),
            self._closure("bot", bot),
        ]

    def _closure(self, kind: str, name: str) -> str:
        return f"{self._prefix}:closed:{kind}:{name}"


def from_settings(
    config: settings.Settings, counted: counters.Counters = counters.NONE
) -> Pacer | None:
    """The fleet's pacer as configured; None without Redis. Each window is widened by the
    margin, the spread of arrival times a reservation cannot see, until Telegram answers
    (Pacer.landed; docs/fleet.md). Its waits are reported to `counted` (the exporter's pacer
    wait time)."""
    url = config.pacer_url
    if url is None:
        return None
    margin = config.telegram_pacer_margin
    return Pacer(
        redisconn.client(url, config.redis_sentinel_master),
        chat_per_second=config.telegram_chat_per_second,
        group_per_minute=config.telegram_group_per_minute,
        bot_per_second=config.telegram_bot_per_second,
        chat_window=CHAT_WINDOW,
        group_window=GROUP_WINDOW,
        bot_window=BOT_WINDOW,
        margin=margin,
        counters=counted,
    )


def _check(bot: str | None, chat: str | None) -> None:
    # Ids become key names: refuse anything else, a token above all.
    if bot is not None and not _BOT_ID.match(bot):
        raise ValueError("a bot id is the digits before the token's ':' (see bot_id())")
    if chat is not None and not _CHAT_ID.match(chat):
        raise ValueError(f"not a chat id: {chat!r}")


def _micros(seconds: float) -> int:
    return max(1, round(seconds * _MICRO))


def _text(value: object) -> str:
    # Script answers are bytes, or str on a client with decode_responses=True.
    if isinstance(value, bytes):
        return value.decode("ascii")
    if isinstance(value, str | int):
        return str(value)
    raise TypeError(f"unexpected answer from Redis: {value!r}")


def _sequence(value: object) -> list[object]:
    if not isinstance(value, list) or len(value) != 3:
        raise TypeError(f"unexpected answer from the pacer script: {value!r}")
    return list(value)
