"""kombu's Redis transport, made safe for an acknowledgement that outlives its connection.

When the broker goes away, the worker's consumer closes its connection, which detaches the
transport from it (`transport.client = None`), and opens a new one. A step that finishes in a
pool thread at that moment has its message acknowledged on the old channel: kombu's Redis QoS
then asks the channel for a client, the channel builds its pool from `transport.client`, and
reading `.hostname` of None raises AttributeError. Celery's event loop runs the ack; it only
expects the transport's connection errors there, so the AttributeError escapes as
"Unrecoverable error" and the worker exits (under honcho, taking beat and Flower with it).
The same lookup fails, harmlessly, when gossip's channel is closed ("Error on stopping Gossip";
reported upstream as celery/kombu#582, still open in the code of kombu 5.7).

Here the detached channel raises redis' ConnectionError instead: a connection error, which
`Message.ack_log_error` logs and swallows. Nothing is lost by not acknowledging: the message
stays in the unacked index and comes back (kombu restores a closing channel's unacked messages,
or visibility_timeout does), and every step is idempotent on its job id.

`install()` makes it the transport of `redis://` and `rediss://` URLs in this process (kombu's
alias table), so the URLs stay as they are: Flower's broker page and every log line still see a
Redis URL. The Celery app calls it when it is created (worker.app). kombu's Sentinel transport
(`sentinel://`, a Redis primary found through Redis Sentinel) is a Redis channel too and has
the same lookup: SentinelTransport carries the same fix, and a failover is a broker loss like
any other (docs/reliability.md, "Broker failover").
"""

from __future__ import annotations

from typing import Any

from kombu import transport
from kombu.transport import redis as kombu_redis
from redis import exceptions as redis_exceptions

REDIS_SCHEMES = ("redis", "rediss")
TRANSPORT = "worker.broker:RedisTransport"
SENTINEL_SCHEME = "sentinel"
SENTINEL_TRANSPORT = "worker.broker:SentinelTransport"


class RedisChannel(kombu_redis.Channel):
    """A Redis channel that says "connection lost" once its transport is detached."""

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        if self.connection.client is None:
            raise redis_exceptions.ConnectionError(
                "the broker connection of this channel was closed (broker lost or restarting)"
            )
        # celery-types' stub of the Channel omits this (undocumented) method.
        params: dict[str, Any] = super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]
        return params


class RedisTransport(kombu_redis.Transport):
    """kombu's Redis transport with RedisChannel."""

    Channel = RedisChannel


class SentinelChannel(RedisChannel, kombu_redis.SentinelChannel):
    """kombu's Sentinel channel (the primary found through the sentinels), with RedisChannel's
    "connection lost" once detached: its pool is built from the same connection parameters."""


class SentinelTransport(kombu_redis.SentinelTransport):
    """kombu's Redis Sentinel transport with SentinelChannel."""

    Channel = SentinelChannel


def install() -> None:
    """Make RedisTransport the transport of redis:// and rediss:// URLs in this process, and
    SentinelTransport that of sentinel:// ones."""
    for scheme in REDIS_SCHEMES:
        transport.TRANSPORT_ALIASES[scheme] = TRANSPORT
    transport.TRANSPORT_ALIASES[SENTINEL_SCHEME] = SENTINEL_TRANSPORT
