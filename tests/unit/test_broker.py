"""The Redis transport that survives a lost broker, and how it is installed."""

from __future__ import annotations

import pytest
from kombu import Connection
from kombu.transport import resolve_transport
from redis import exceptions as redis_exceptions

from worker import broker


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://:pw@redis.example:6380/1"])
def test_once_installed_redis_urls_get_the_transport_that_survives_a_lost_connection(
    url: str,
) -> None:
    broker.install()
    # resolve_transport reads the alias table each time (a Connection's lookup is cached, and
    # an earlier test may have resolved kombu's own: in a worker, install() runs first).
    scheme = url.partition(":")[0]
    resolved: object = resolve_transport(scheme)
    assert resolved is broker.RedisTransport
    assert Connection(url).as_uri().startswith(scheme + "://")  # URL unchanged


def test_other_brokers_keep_their_transport() -> None:
    broker.install()
    resolved: object = resolve_transport("amqp")
    assert resolved is not broker.RedisTransport


def test_a_detached_channel_says_the_connection_is_lost() -> None:
    connection = Connection("redis://127.0.0.1:6379/0", transport=broker.TRANSPORT)
    channel = connection.channel()
    assert isinstance(channel, broker.RedisChannel)
    connection.transport.client = None  # what kombu does when the connection is closed
    with pytest.raises(redis_exceptions.ConnectionError, match="was closed"):
        channel._connparams()
