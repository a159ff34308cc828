"""Alembic environment: the URL comes from the Config that db.migrate builds."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool, text

from db import ledger, models, schedule_models, wal_models  # noqa: F401 - registers the tables
from db.queries import catalog as catalog_messages  # noqa: F401 - registers its table

# One fixed key: concurrent `migrate` runs (several workers starting at once) queue up on it.
MIGRATION_LOCK_KEY = 0x6277_6D69  # "bwmi"


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    # Only our schema: anything else in a shared database is not ours to drop.
    if type_ == "schema":
        return name == models.SCHEMA
    return True


def _url() -> str:
    config = context.config
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: use db.migrate, or set sqlalchemy.url")
    return str(url)


def _configure(connection: Connection | None = None) -> None:
    context.configure(
        connection=connection,
        url=_url() if connection is None else None,
        literal_binds=connection is None,
        dialect_opts={"paramstyle": "named"} if connection is None else None,
        target_metadata=models.Base.metadata,
        include_schemas=True,
        include_name=_include_name,
        version_table_schema=models.SCHEMA,
        compare_type=True,
        compare_server_default=True,
    )


def run_offline() -> None:
    """Print the SQL instead of running it."""
    _configure()
    with context.begin_transaction():
        context.execute(f"CREATE SCHEMA IF NOT EXISTS {models.SCHEMA}")
        context.run_migrations()


def run_online() -> None:
    """Run the migrations in one transaction, holding an advisory lock."""
    engine = create_engine(_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            _configure(connection=connection)
            with context.begin_transaction():
                connection.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"))
                # Before run_migrations: Alembic's version table lives in this schema.
                connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {models.SCHEMA}"))
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
