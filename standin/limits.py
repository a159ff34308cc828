"""Telegram's sending limits as the stand-in enforces them: per chat, per group, per bot.

Each limit is `count` messages per sliding `window` seconds; a message over any of them gets 429
"Too Many Requests: retry after N" with parameters.retry_after = N (whole seconds, at least 1, like
Telegram's). A chat's budgets count every bot's messages into it, the conservative reading of the
Bots FAQ, which the fleet pacer (worker.telegram.pacer) follows too.
"""

from __future__ import annotations

import collections
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """At most `count` messages in any `window` seconds."""

    count: int
    window: float

    def __post_init__(self) -> None:
        if self.count < 1 or not self.window > 0:
            raise ValueError("a rate is a count of at least 1 per a positive window in seconds")


@dataclass(frozen=True)
class Limits:
    """Which limits are enforced; None turns one off."""

    chat: Rate | None = None  # any chat (Bots FAQ: about 1 message per second)
    group: Rate | None = None  # groups, supergroups, channels: negative ids (20 per minute)
    bot: Rate | None = None  # one bot, all chats together (about 30 per second)

    def as_json(self) -> dict[str, object]:
        """The form GET and POST /_standin/limits use."""
        return {
            name: None if rate is None else {"count": rate.count, "window": rate.window}
            for name, rate in (("chat", self.chat), ("group", self.group), ("bot", self.bot))
        }

    @classmethod
    def from_json(cls, body: dict[str, object]) -> Limits:
        """Limits from {"preset": ...} or {"chat"|"group"|"bot": {"count", "window"} | null}."""
        preset = body.get("preset")
        if preset is not None:
            if preset not in PRESETS:
                raise ValueError(f"preset is one of {sorted(PRESETS)}")
            return PRESETS[str(preset)]
        unknown = set(body) - {"chat", "group", "bot"}
        if unknown:
            raise ValueError(f"unknown limits: {sorted(unknown)}")
        return cls(**{name: _rate(value) for name, value in body.items()})


def _rate(value: object) -> Rate | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError('a limit is null or {"count": N, "window": SECONDS}')
    return Rate(int(str(value["count"])), float(str(value["window"])))


@dataclass(frozen=True)
class Send:
    """A message as the limits counted it: when (the stand-in's clock), by which bot, where."""

    time: float
    bot_id: int
    chat_id: int

    def as_json(self) -> dict[str, object]:
        """The form GET /_standin/sends answers with."""
        return {"time": self.time, "bot_id": self.bot_id, "chat_id": self.chat_id}


OFF = Limits()
GROUPS = Limits(group=Rate(20, 60.0))  # rate_limits=True, what the stand-in always enforced
TELEGRAM = Limits(chat=Rate(1, 1.0), group=Rate(20, 60.0), bot=Rate(30, 1.0))
PRESETS = {"off": OFF, "groups": GROUPS, "telegram": TELEGRAM}


class Limiter:
    """Thread-safe sliding windows of send times; admit() checks and counts in one step."""

    def __init__(self, clock: Callable[[], float], limits: Limits = OFF) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._limits = limits
        self._sent: dict[tuple[str, int], collections.deque[float]] = {}
        self._admitted: list[Send] = []

    @property
    def limits(self) -> Limits:
        """The limits in force."""
        with self._lock:
            return self._limits

    def set(self, limits: Limits) -> None:
        """Enforce other limits from now on; the send times seen so far still count."""
        with self._lock:
            self._limits = limits

    def reset(self) -> None:
        """Forget every send time."""
        with self._lock:
            self._sent.clear()
            self._admitted.clear()

    def admitted(self) -> list[Send]:
        """Every message admitted so far, with the time it was counted at, oldest first."""
        with self._lock:
            return list(self._admitted)

    def admit(self, bot_id: int, chat_id: int) -> int | None:
        """None and the message counted, or the retry_after to answer and nothing counted.

        Checking and counting under one lock: concurrent senders cannot both take the last slot.
        """
        now = self._clock()
        with self._lock:
            budgets = self._budgets(bot_id, chat_id)
            waits = [self._wait(key, rate, now) for key, rate in budgets]
            refused = [wait for wait in waits if wait is not None]
            if refused:
                return max(refused)
            for key, _ in budgets:
                self._sent.setdefault(key, collections.deque()).append(now)
            self._admitted.append(Send(now, bot_id, chat_id))
            return None

    def _budgets(self, bot_id: int, chat_id: int) -> list[tuple[tuple[str, int], Rate]]:
        limits = self._limits
        budgets = []
        if limits.chat is not None:
            budgets.append((("chat", chat_id), limits.chat))
        if limits.group is not None and chat_id < 0:
            budgets.append((("group", chat_id), limits.group))
        if limits.bot is not None:
            budgets.append((("bot", bot_id), limits.bot))
        return budgets

    def _wait(self, key: tuple[str, int], rate: Rate, now: float) -> int | None:
        sent = self._sent.get(key)
        if sent is None:
            return None
        while sent and sent[0] <= now - rate.window:
            sent.popleft()
        if len(sent) < rate.count:
            return None
        # The slot frees when the count-th newest message leaves the window.
        freeing = sent[len(sent) - rate.count]
        return max(1, math.ceil(freeing + rate.window - now))
