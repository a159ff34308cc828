"""The fleet's Telegram counters, kept in one Redis hash that every worker increments.

A Prometheus exporter in each worker would count each worker's own work only, and lose it with
the process; one hash in Redis counts the whole fleet once and outlives restarts. Fields:

    requests:<method>:<outcome>   attempts of a Bot API call (worker.telegram.counters.OUTCOMES)
    bytes:sent, bytes:fetched     document bytes uploaded and downloaded
    pacer:wait_sum, pacer:waits   seconds the fleet pacer made sends wait, and how many waits

Writes never raise: a Redis error loses one increment and logs at debug level, it never fails
a backup.
"""

from __future__ import annotations

import dataclasses
import logging

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from worker import redisconn
from worker.telegram import counters

KEY = "backup-worker:metrics:telegram"
TIMEOUT = 2.0  # seconds: a count that cannot reach Redis is dropped, the send goes on
_log = logging.getLogger(__name__)


def client_for(url: str, master: str | None = None) -> redis.Redis:
    """A Redis client for counting: short timeouts and no retries, so that a Redis outage
    costs a Bot API call at most TIMEOUT per counter, never redis-py's retry loop.
    `master`: the primary's name when `url` is sentinel:// (worker.redisconn)."""
    return redisconn.client(
        url,
        master,
        socket_timeout=TIMEOUT,
        socket_connect_timeout=TIMEOUT,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
    )


class RedisCounters:
    """worker.telegram.counters.Counters, incremented in a Redis hash."""

    def __init__(self, client: redis.Redis, *, key: str = KEY) -> None:
        self._redis = client
        self._key = key

    def request(self, method: str, outcome: str) -> None:
        """One attempt of `method` ended with `outcome`."""
        self._add(f"requests:{method}:{outcome}", 1)

    def transferred(self, direction: str, size: int) -> None:
        """`size` bytes sent or fetched."""
        self._add(f"bytes:{direction}", size)

    def paced(self, seconds: float) -> None:
        """One wait of the pacer."""
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                pipe.hincrbyfloat(self._key, "pacer:wait_sum", seconds)
                pipe.hincrby(self._key, "pacer:waits", 1)
                pipe.execute()
        except redis.RedisError as exc:
            _log.debug("pacer wait not counted: %s", exc)

    def _add(self, field: str, amount: int) -> None:
        try:
            self._redis.hincrby(self._key, field, amount)
        except redis.RedisError as exc:
            _log.debug("%s not counted: %s", field, exc)


@dataclasses.dataclass(frozen=True)
class Totals:
    """The counters as read back: what the exporter exposes."""

    requests: dict[tuple[str, str], int]  # (method, outcome) -> attempts
    bytes: dict[str, int]  # direction -> bytes
    pacer_wait_sum: float
    pacer_waits: int


def read(client: redis.Redis, *, key: str = KEY) -> Totals:
    """Every counter in the hash; fields it does not know are ignored."""
    raw = client.hgetall(key)
    requests: dict[tuple[str, str], int] = {}
    sizes = dict.fromkeys((counters.SENT, counters.FETCHED), 0)
    wait_sum, waits = 0.0, 0
    for name, value in raw.items():
        field, amount = _text(name), _text(value)
        kind, _, rest = field.partition(":")
        if kind == "requests" and rest.count(":") == 1:
            method, outcome = rest.split(":")
            requests[(method, outcome)] = int(amount)
        elif kind == "bytes" and rest in sizes:
            sizes[rest] = int(amount)
        elif field == "pacer:wait_sum":
            wait_sum = float(amount)
        elif field == "pacer:waits":
            waits = int(amount)
    return Totals(requests=requests, bytes=sizes, pacer_wait_sum=wait_sum, pacer_waits=waits)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
