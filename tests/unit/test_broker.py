"""The Redis transport that survives a lost broker, and how it is installed."""

from __future__ import annotations

import pytest
from kombu import Connection
from redis import exceptions as redis_exceptions

from worker import broker


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://:pw@redis.example:6380/1"])
def test_once_installed_redis_urls_get_the_transport_that_survives_a_lost_connection(
    url: str,
) -> None:
    broker.install()
    transport: object = Connection(url).get_transport_cls()
    assert transport is broker.RedisTransport
    assert Connection(url).as_uri().startswith(url.partition(":")[0] + "://")  # URL unchanged


def test_other_brokers_keep_their_transport() -> None:
    broker.install()
    transport: object = Connection("amqp://guest:guest@127.0.0.1:5672//").get_transport_cls()
    assert transport is not broker.RedisTransport


def test_a_detached_channel_says_the_connection_is_lost() -> None:
    broker.install()
    connection = Connection("redis://127.0.0.1:6379/0")
    channel = connection.channel()
    assert isinstance(channel, broker.RedisChannel)
    connection.transport.client = None  # what kombu does when the connection is closed
    with pytest.raises(redis_exceptions.ConnectionError, match="was closed"):
        channel._connparams()
