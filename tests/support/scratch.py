"""Resources of one's own on the shared servers: a scratch database, a Redis database.

Test runs, benchmarks and colleagues' runs share PostgreSQL (5432) and Redis (6379): each takes
a database `<prefix><hex>` it drops afterwards, and locks one of the Redis databases 2..15 (0
and 1 are the defaults a developer's own worker uses).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import uuid
from collections.abc import Iterator

import redis
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from db import migrate

ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_DBS = range(2, 16)
REDIS_LOCK = "backup-worker-tests:db:{}"
REDIS_LOCK_SECONDS = 6 * 3600


def admin_url() -> str:
    """The shared server's admin URL; TEST_ADMIN_DATABASE_URL overrides it."""
    return os.environ.get("TEST_ADMIN_DATABASE_URL", ADMIN_URL)


@contextlib.contextmanager
def database(prefix: str = "bw_test_", *, migrated: bool = False) -> Iterator[str]:
    """A new database `<prefix><hex>` (migrated to head if asked); yields its URL, then drops it."""
    url = make_url(admin_url())
    name = f"{prefix}{secrets.token_hex(6)}"
    admin = create_engine(url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            scratch = url.set(database=name).render_as_string(hide_password=False)
            if migrated:
                migrate.upgrade(scratch)
            yield scratch
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextlib.contextmanager
def redis_database() -> Iterator[int]:
    """A Redis database nobody else uses meanwhile, emptied first; yields its number."""
    lock = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=0)
    token = uuid.uuid4().hex
    for number in REDIS_DBS:
        if lock.set(REDIS_LOCK.format(number), token, nx=True, ex=REDIS_LOCK_SECONDS):
            break
    else:
        raise RuntimeError("every Redis database 2..15 is taken by a test run or benchmark")
    try:
        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number).flushdb()
        yield number
    finally:
        if lock.get(REDIS_LOCK.format(number)) == token.encode():
            lock.delete(REDIS_LOCK.format(number))
        lock.close()


def redis_url(number: int) -> str:
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/{number}"
