"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from db import models, session
from tests.support import scratch


@pytest.fixture(scope="session", autouse=True)
def pacer_redis() -> Iterator[str]:
    """PACER_REDIS_URL: a Redis database of this run's own for the fleet pacer of in-process
    steps, so that test runs on one machine never share budgets (the default is the broker's)."""
    with scratch.redis_database() as number:
        url = scratch.redis_url(number)
        os.environ["PACER_REDIS_URL"] = url
        try:
            yield url
        finally:
            del os.environ["PACER_REDIS_URL"]


@pytest.fixture(scope="session")
def control_db_url() -> Iterator[str]:
    """URL of a fresh control-plane database migrated to head, shared by the whole run."""
    with scratch.database(migrated=True) as url:
        yield url


@pytest.fixture
def empty_db_url() -> Iterator[str]:
    """URL of a fresh database with no schema at all, dropped after the test."""
    with scratch.database() as url:
        yield url


@pytest.fixture(scope="session")
def redis_db() -> Iterator[int]:
    """A Redis database of our own: test runs may overlap on one machine."""
    with scratch.redis_database() as number:
        yield number


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
