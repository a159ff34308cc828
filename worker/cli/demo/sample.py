"""The demo's databases: the sample it backs up when none is named, and what a database holds
(its tables and their rows), to show that a restore matches its source."""

from __future__ import annotations

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import make_dsn
from rich.console import Console

from worker.postgres import source

SAMPLE_DATABASE = "backup_worker_sample"
_TABLES = """
    SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg_toast%'
    ORDER BY 1, 2
"""


def ensure(params: source.SourceParams, console: Console) -> str:
    """Create (once) a sample database of a few MB with several kinds of data."""
    if source.database_exists(params, SAMPLE_DATABASE):
        return SAMPLE_DATABASE
    console.print(f"creating sample database {SAMPLE_DATABASE}")
    admin = psycopg2.connect(make_dsn(params.conninfo(), **params.password_kw()))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(SAMPLE_DATABASE)))
    admin.close()
    conn = psycopg2.connect(make_dsn(params.conninfo(SAMPLE_DATABASE), **params.password_kw()))
    with conn, conn.cursor() as cur:
        cur.execute(
            """
            CREATE TABLE customers (id bigserial PRIMARY KEY, name text NOT NULL,
                email text UNIQUE, created_at timestamptz DEFAULT now());
            CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint REFERENCES customers,
                total numeric(12, 2), items jsonb, note text);
            CREATE INDEX ON orders (customer_id);
            INSERT INTO customers (name, email)
                SELECT 'Customer ' || i || ' Ærøskøbing', 'c' || i || '@example.org'
                FROM generate_series(1, 50000) AS i;
            INSERT INTO orders (customer_id, total, items, note)
                SELECT 1 + (i % 50000), round((random() * 1000)::numeric, 2),
                    jsonb_build_object('sku', md5(i::text), 'qty', i % 7),
                    repeat(md5(random()::text), 4)
                FROM generate_series(1, 200000) AS i;
            """
        )
    conn.close()
    return SAMPLE_DATABASE


def row_counts(params: source.SourceParams, database: str) -> dict[str, int]:
    """Every table of `database` (schema.table) and its number of rows, counted."""
    conn = psycopg2.connect(make_dsn(params.conninfo(database), **params.password_kw()))
    try:
        with conn.cursor() as cur:
            cur.execute(_TABLES)
            tables = cur.fetchall()
            counts: dict[str, int] = {}
            for schema, table in tables:
                query = sql.SQL("SELECT count(*) FROM {}.{}")
                cur.execute(query.format(sql.Identifier(schema), sql.Identifier(table)))
                row = cur.fetchone()
                counts[f"{schema}.{table}"] = int(row[0]) if row else 0
            return counts
    finally:
        conn.close()
