"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from db import migrate, models, session

DEFAULT_ADMIN_DATABASE_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


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
