"""Which kombu transport celeryconfig picks for a broker URL."""

from __future__ import annotations

import pytest
from kombu import Connection

from worker import broker


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:6379/0", "rediss://:pw@redis.example:6380/1", "REDIS://h/0"]
)
def test_redis_urls_get_the_transport_that_survives_a_lost_connection(url: str) -> None:
    assert broker.transport_for(url) == broker.TRANSPORT


@pytest.mark.parametrize("url", ["amqp://guest:guest@127.0.0.1:5672//", "sentinel://h:26379"])
def test_other_brokers_keep_the_transport_of_their_url(url: str) -> None:
    assert broker.transport_for(url) is None


def test_a_connection_given_the_configured_name_uses_the_class() -> None:
    connection = Connection("redis://127.0.0.1:6379/0", transport=broker.TRANSPORT)
    transport: object = connection.get_transport_cls()
    assert transport is broker.RedisTransport
