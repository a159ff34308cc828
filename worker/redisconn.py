"""A Redis client for a URL of the fleet's Redis: a plain server, or a primary behind Sentinel.

The fleet keeps more than Celery's queues in its broker's Redis: the pacer's budgets
(worker.telegram.pacer), the dump slots (worker.postgres.slots) and the Telegram counters
(worker.metrics.counters). When the broker is `sentinel://…`, kombu finds the primary through
the sentinels; the same URL gives these clients the same primary, found the same way, so a
failover moves them together (docs/reliability.md, "Broker failover").

A Sentinel URL is kombu's form: one `sentinel://[:password@]host:port[/db]` per sentinel,
joined by `;`. The password and the database number of the first one are the primary's (as
kombu reads them); the primary's name is REDIS_SENTINEL_MASTER.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis import sentinel

from worker import errors

SENTINEL = "sentinel"
REDIS_SCHEMES = frozenset({"redis", "rediss", "unix", SENTINEL})
SENTINEL_PORT = 26379  # Redis Sentinel's default port
SENTINEL_TIMEOUT = 5.0  # seconds for a sentinel's answer: one that hangs is skipped


def scheme(url: str) -> str:
    return url.partition("://")[0].lower()


def is_redis(url: str) -> bool:
    """Whether a URL is one of Redis (directly or through Sentinel)."""
    return scheme(url) in REDIS_SCHEMES


def is_sentinel(url: str) -> bool:
    """Whether a URL names sentinels rather than a Redis server."""
    return scheme(url) == SENTINEL


@dataclass(frozen=True)
class Sentinels:
    """What a `sentinel://` URL says: the sentinels, and how to talk to the primary."""

    hosts: tuple[tuple[str, int], ...]
    db: int
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> Sentinels:
        """The sentinels of kombu's `sentinel://h1:26379;sentinel://h2:26379/0` form;
        ConfigError (never showing the password) when it is not one."""
        hosts: list[tuple[str, int]] = []
        first = None
        for item in (part.strip() for part in url.split(";")):
            if not item:
                continue
            parts = urlsplit(item)
            try:
                port = parts.port or SENTINEL_PORT
            except ValueError:
                port = -1
            if parts.scheme != SENTINEL or not parts.hostname or port < 0:
                shown = f"{parts.scheme}://{parts.hostname or ''}"
                raise errors.ConfigError(
                    f"not a sentinel URL: {shown}…: use sentinel://host:port, one per sentinel, "
                    "joined by ';'"
                )
            hosts.append((parts.hostname, port))
            first = first or parts
        if first is None:
            raise errors.ConfigError("a sentinel URL names no sentinel")
        path = first.path.strip("/")
        if path and not path.isdigit():
            raise errors.ConfigError("a sentinel URL's path is the database number, e.g. /0")
        return cls(
            tuple(hosts),
            int(path or 0),
            unquote(first.username) if first.username else None,
            unquote(first.password) if first.password else None,
        )


def client(url: str, master: str | None = None, **options: Any) -> redis.Redis:
    """A client of the Redis `url` names; through Sentinel, of the primary called `master`,
    found again after each lost connection (redis-py's SentinelConnectionPool).
    `options` are redis-py's connection options (timeouts, retry)."""
    if not is_sentinel(url):
        return redis.Redis.from_url(url, **options)
    if not master:
        raise errors.ConfigError(
            "REDIS_SENTINEL_MASTER is not set: a sentinel:// URL needs the primary's name"
        )
    found = Sentinels.parse(url)
    asking = {"socket_timeout": SENTINEL_TIMEOUT, "socket_connect_timeout": SENTINEL_TIMEOUT}
    watch = sentinel.Sentinel(list(found.hosts), sentinel_kwargs=asking)
    primary: redis.Redis = watch.master_for(
        master, db=found.db, username=found.username, password=found.password, **options
    )
    return primary


def transport_options(url: str, master: str | None) -> dict[str, object]:
    """kombu's transport options a URL needs: the primary's name for `sentinel://`."""
    return {"master_name": master} if is_sentinel(url) and master else {}
