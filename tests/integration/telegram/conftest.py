"""A Redis database of the test's own for the pacer, locked like the acceptance tests' ones."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

REDIS_DBS = range(2, 16)  # 0 and 1 are the defaults a developer's own worker uses
LOCK_KEY = "backup-worker-tests:db:{}"  # the scheme of tests/acceptance/conftest.py's redis_db


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The URL of a locked Redis database, emptied before and after the test."""
    lock = redis.Redis(host="127.0.0.1", port=6379, db=0)
    token = uuid.uuid4().hex
    for number in REDIS_DBS:
        if lock.set(LOCK_KEY.format(number), token, nx=True, ex=3600):
            break
    else:
        raise AssertionError("every Redis test database is taken by another test run")
    url = f"redis://127.0.0.1:6379/{number}"
    own = redis.Redis.from_url(url)
    own.flushdb()
    try:
        yield url
    finally:
        own.flushdb()
        own.close()
        if lock.get(LOCK_KEY.format(number)) == token.encode():
            lock.delete(LOCK_KEY.format(number))
        lock.close()
