"""Fixtures of the worker.postgres tests: the shared server's parameters, and a throw-away
redis-server per module (tests/support/services.py) for the slot tests, which kill holders."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support import services, sources
from worker.postgres import source


@pytest.fixture(scope="module")
def params() -> source.SourceParams:
    return source.SourceParams.from_url(sources.SOURCE_URL)


@pytest.fixture(scope="module")
def redis_port() -> Iterator[int]:
    with tempfile.TemporaryDirectory(prefix="bw-slots-redis-") as tmp:
        server = services.RedisServer(Path(tmp), services.free_port())
        server.start()
        try:
            yield server.port
        finally:
            server.stop()


@pytest.fixture
def redis_client(redis_port: int) -> Iterator[redis.Redis]:
    client = redis.Redis(host="127.0.0.1", port=redis_port)
    client.flushall()
    yield client
    client.close()
