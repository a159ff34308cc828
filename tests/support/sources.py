"""Source databases on the shared server (127.0.0.1:5432, trust): made, checked, dropped."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg2

ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
SOURCE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"  # SOURCE_DATABASE_URL


def admin_execute(statement: str) -> None:
    """Run one statement on the admin database, outside a transaction."""
    conn = psycopg2.connect(ADMIN_DSN)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(statement)
    conn.close()


def connect(database: str, *, user: str = "postgres") -> psycopg2.extensions.connection:
    """A session in `database` of the shared server as `user` (trust auth)."""
    return psycopg2.connect(f"host=127.0.0.1 port=5432 user={user} dbname={database}")


def query(database: str, statement: str, *, user: str = "postgres") -> list[tuple[object, ...]]:
    """Run one statement in `database` as `user` (trust auth), outside a transaction; its rows."""
    conn = connect(database, user=user)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return list(cur.fetchall()) if cur.description is not None else []
    finally:
        conn.close()


def make_source_database(name: str, rows: int = 20000) -> None:
    """A small database with several kinds of objects to dump."""
    admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin_execute(f'CREATE DATABASE "{name}"')
    conn = connect(name)
    with conn, conn.cursor() as cur:
        cur.execute(
            """
            CREATE TABLE items (id serial PRIMARY KEY, label text, data jsonb);
            INSERT INTO items (label, data)
                SELECT 'item ' || i || ' – naïve', jsonb_build_object('n', i, 'h', md5(i::text))
                FROM generate_series(1, %s) AS i;
            CREATE VIEW recent AS SELECT * FROM items WHERE id > 10;
            """,
            (rows,),
        )
    conn.close()


def drop_database(name: str) -> None:
    admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_exists(name: str) -> bool:
    conn = psycopg2.connect(ADMIN_DSN)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            return cur.fetchone() is not None
    finally:
        conn.close()


def make_many_tables(name: str, count: int) -> None:
    """A database of `count` one-row tables, made 250 per transaction (one could not hold them)."""
    admin_execute(f'CREATE DATABASE "{name}"')
    conn = connect(name)
    conn.autocommit = True
    with conn.cursor() as cur:
        for first in range(1, count + 1, 250):
            cur.execute(
                "DO $$ BEGIN FOR i IN %s..%s LOOP "
                "EXECUTE format('CREATE TABLE t%%s (id int PRIMARY KEY, v text)', i); "
                "EXECUTE format('INSERT INTO t%%s VALUES (1, ''x'')', i); END LOOP; END $$",
                (first, min(first + 249, count)),
            )
    conn.close()


def setting(name: str) -> str:
    """The shared server's current value of the setting `name` (SHOW)."""
    conn = psycopg2.connect(ADMIN_DSN)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SHOW {name}")
            row = cur.fetchone()
            return str(row[0]) if row else ""
    finally:
        conn.close()


MANY_TABLES = 5_000  # more than one transaction's locks fit on a default server


@contextlib.contextmanager
def many_tables_database() -> Iterator[str]:
    """A database of MANY_TABLES one-row tables on the shared server, which must have the
    default max_locks_per_transaction (the point of the tests that use it); dropped after."""
    name = f"bw_many_{uuid.uuid4().hex[:8]}"
    assert setting("max_locks_per_transaction") == "64"  # the server's default
    make_many_tables(name, MANY_TABLES)
    try:
        yield name
    finally:
        drop_database(name)


@contextlib.contextmanager
def owner_role(*, login: bool = False) -> Iterator[str]:
    """A project owner's role that is no superuser; afterwards every database it owns, what it
    owns elsewhere and the role itself are dropped."""
    name = f"bw_owner_{uuid.uuid4().hex[:8]}"
    admin_execute(f"CREATE ROLE {name} {'LOGIN' if login else 'NOLOGIN'} NOSUPERUSER")
    try:
        yield name
    finally:
        owned = f"SELECT datname FROM pg_database WHERE datdba = '{name}'::regrole"
        for (database,) in query("postgres", owned):
            drop_database(str(database))
        admin_execute(f"DROP OWNED BY {name}")
        admin_execute(f"DROP ROLE {name}")
