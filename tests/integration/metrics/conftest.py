"""The metrics tests use a locked Redis database of their own, as the pacer's tests do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.integration.telegram.conftest import redis_url

__all__ = ["redis_url"]


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()
