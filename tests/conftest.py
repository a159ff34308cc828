"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from db import migrate, models, session

DEFAULT_ADMIN_DATABASE_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
PACER_REDIS_DBS = range(2, 16)  # the scheme of tests/acceptance/conftest.py's redis_db


@pytest.fixture(scope="session", autouse=True)
def pacer_redis() -> Iterator[str]:
    """PACER_REDIS_URL: a locked Redis database for the fleet pacer of in-process steps, so
    that test runs on one machine never share budgets (the default is the broker's db 0)."""
    lock = redis.Redis(host="127.0.0.1", port=6379, db=0)
    token = secrets.token_hex(8)
    for number in PACER_REDIS_DBS:
        if lock.set(f"backup-worker-tests:db:{number}", token, nx=True, ex=3600):
            break
    else:
        raise AssertionError("every Redis test database is taken by another test run")
    url = f"redis://127.0.0.1:6379/{number}"
    redis.Redis.from_url(url).flushdb()
    os.environ["PACER_REDIS_URL"] = url
    try:
        yield url
    finally:
        del os.environ["PACER_REDIS_URL"]
        redis.Redis.from_url(url).flushdb()
        if lock.get(f"backup-worker-tests:db:{number}") == token.encode():
            lock.delete(f"backup-worker-tests:db:{number}")
        lock.close()


@contextmanager
def _scratch_database() -> Iterator[str]:
    """A new empty database `bw_test_<hex>` on the test server; yields its URL, then drops it."""
    admin_url = make_url(os.environ.get("TEST_ADMIN_DATABASE_URL", DEFAULT_ADMIN_DATABASE_URL))
    name = f"bw_test_{secrets.token_hex(6)}"
    admin = create_engine(admin_url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield admin_url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def control_db_url() -> Iterator[str]:
    """URL of a fresh control-plane database migrated to head, shared by the whole run."""
    with _scratch_database() as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture
def empty_db_url() -> Iterator[str]:
    """URL of a fresh database with no schema at all, dropped after the test."""
    with _scratch_database() as url:
        yield url


@pytest.fixture
def database(control_db_url: str) -> Iterator[session.Database]:
    """A Database on the shared control-plane database; its tables are emptied afterwards."""
    db = session.Database(control_db_url)
    try:
        yield db
    finally:
        tables = ", ".join(
            f"{models.SCHEMA}.{table.name}" for table in models.Base.metadata.sorted_tables
        )
        with db.engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables}"))
        db.dispose()
