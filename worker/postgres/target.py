"""The database a backup is restored into, on the server of SOURCE_DATABASE_URL.

Administrative statements (CREATE/DROP DATABASE) run through the URL's own database; the check
for emptiness connects to the target itself. The password goes to libpq as a keyword, never
into a message.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg2
import psycopg2.errors
from psycopg2 import sql
from psycopg2.extensions import make_dsn

from worker import errors
from worker.postgres import source

CONNECT_TIMEOUT = "10"  # seconds
STATEMENT_TIMEOUT = "30s"  # the catalog counts and CREATE DATABASE are quick
ALWAYS_REFUSED = ("template0", "template1")

# Anything a restore could collide with: relations, routines, types, schemas, extensions and
# large objects that are not PostgreSQL's own. An empty `public` schema does not count.
_USER_OBJECTS = """
WITH user_ns AS (
    SELECT oid FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema')
      AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp\\_%'
)
SELECT (SELECT count(*) FROM pg_class WHERE relnamespace IN (SELECT oid FROM user_ns))
     + (SELECT count(*) FROM pg_proc WHERE pronamespace IN (SELECT oid FROM user_ns))
     + (SELECT count(*) FROM pg_type
        WHERE typnamespace IN (SELECT oid FROM user_ns) AND typrelid = 0 AND typcategory <> 'A')
     + (SELECT count(*) FROM user_ns n JOIN pg_namespace s ON s.oid = n.oid
        WHERE s.nspname <> 'public')
     + (SELECT count(*) FROM pg_extension WHERE extname <> 'plpgsql')
     + (SELECT count(*) FROM pg_largeobject_metadata)
"""


def refuse_forbidden(target: str, *, protected: Iterable[str | None], reason: str) -> str:
    """The validated target name, or InputError when it is one a restore must never touch."""
    name = source.validate_database_name(target)
    if name in ALWAYS_REFUSED:
        raise errors.InputError(f"refusing to restore into the template database {name}")
    if name in {p for p in protected if p}:
        raise errors.InputError(f"refusing to restore into {name}: {reason}")
    return name


def refuse_unusable(params: source.SourceParams, name: str, *, closed_ok: bool = False) -> None:
    """InputError when the existing database `name` is a template (datistemplate: every new
    database would copy what a restore puts there) or accepts no connections (datallowconn
    false: closed on purpose, or by a replace mid-switch when `closed_ok`); a missing one
    passes."""
    row = _query(
        params,
        None,
        "SELECT datistemplate, datallowconn FROM pg_database WHERE datname = %s",
        name,
    )
    if row is None:
        return
    if row[0]:
        raise errors.InputError(
            f"refusing to restore into {name}: it is a template database (datistemplate), "
            "which every new database copies"
        )
    if not row[1] and not closed_ok:
        raise errors.InputError(
            f"refusing to restore into {name}: it accepts no connections (datallowconn false); "
            "a database closed on purpose is no restore target"
        )


def exists(params: source.SourceParams, name: str) -> bool:
    """Whether the database exists on the server."""
    row = _query(params, None, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = %s)", name)
    return bool(row and row[0])


def user_objects(params: source.SourceParams, name: str) -> int:
    """How many objects of its own the database holds (0: empty, safe to restore into)."""
    row = _query(params, name, _USER_OBJECTS)
    return int(str(row[0])) if row else 0


def owner(params: source.SourceParams, name: str) -> str | None:
    """The role that owns the database, None when there is no such database."""
    row = _query(
        params,
        None,
        "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
        name,
    )
    return str(row[0]) if row else None


def create(params: source.SourceParams, name: str, owner: str | None = None) -> bool:
    """CREATE DATABASE from template0, owned by `owner` (default: the URL's user); False when
    it already exists (another restore won)."""
    statement = sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name))
    if owner is not None:
        statement = sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0").format(
            sql.Identifier(name), sql.Identifier(owner)
        )
    try:
        _query(params, None, statement, passthrough=_CREATE_OUTCOMES)
    except psycopg2.errors.DuplicateDatabase:
        return False
    except psycopg2.errors.InsufficientPrivilege:
        if owner is not None:
            raise errors.RestoreError(
                f"the user of {params.origin} may not create database {name} owned by role "
                f"{owner}: it needs CREATEDB and membership in {owner} (backup-worker roles sql)"
            ) from None
        raise errors.RestoreError(
            f"the SOURCE_DATABASE_URL user may not create databases: create {name} by hand "
            "(empty) or grant that user CREATEDB"
        ) from None
    return True


def drop(params: source.SourceParams, name: str) -> None:
    """DROP DATABASE, ending other sessions on it; RestoreError if that fails."""
    _query(
        params,
        None,
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)),
    )


def rename(params: source.SourceParams, old: str, new: str) -> None:
    """ALTER DATABASE … RENAME; psycopg2's ObjectInUse passes through (sessions still open)."""
    statement = sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
        sql.Identifier(old), sql.Identifier(new)
    )
    _query(params, None, statement, passthrough=(psycopg2.errors.ObjectInUse,))


def allow_connections(params: source.SourceParams, name: str, allowed: bool) -> None:
    """ALTER DATABASE … ALLOW_CONNECTIONS: false keeps every new session out, superusers too."""
    statement = sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
        sql.Identifier(name), sql.SQL("true" if allowed else "false")
    )
    _query(params, None, statement)


def terminate(params: source.SourceParams, name: str) -> int:
    """End every other session on the database; how many there were."""
    row = _query(
        params,
        None,
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = %s AND pid <> pg_backend_pid()",
        name,
    )
    return int(str(row[0])) if row else 0


def matching(params: source.SourceParams, pattern: str) -> list[str]:
    """The server's databases whose names match the POSIX regular expression."""
    rows = _rows(params, None, "SELECT datname FROM pg_database WHERE datname ~ %s", pattern)
    return sorted(str(row[0]) for row in rows)


def tables(params: source.SourceParams, name: str) -> int:
    """How many tables (plain and partitioned) of its own the database holds."""
    row = _query(
        params,
        name,
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', "
        "'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'",
    )
    return int(str(row[0])) if row else 0


def execute(
    params: source.SourceParams,
    database: str | None,
    statement: str | sql.Composable,
    *args: object,
) -> list[tuple[object, ...]]:
    """Run one statement in autocommit as the URL's user in `database` (None: the URL's own),
    with the session options that keep a project's code out (source.SAFE_OPTIONS); its rows."""
    return _rows(params, database, statement, *args)


_CREATE_OUTCOMES = (psycopg2.errors.DuplicateDatabase, psycopg2.errors.InsufficientPrivilege)


def _query(
    params: source.SourceParams,
    database: str | None,
    statement: str | sql.Composable,
    *args: object,
    passthrough: tuple[type[psycopg2.Error], ...] = (),
) -> tuple[object, ...] | None:
    """Run one statement in autocommit (CREATE/DROP DATABASE need it); its first row."""
    rows = _rows(params, database, statement, *args, passthrough=passthrough)
    return rows[0] if rows else None


def _rows(
    params: source.SourceParams,
    database: str | None,
    statement: str | sql.Composable,
    *args: object,
    passthrough: tuple[type[psycopg2.Error], ...] = (),
) -> list[tuple[object, ...]]:
    timeout = params.get("connect_timeout") or CONNECT_TIMEOUT
    dsn = make_dsn(
        params.conninfo(database),
        connect_timeout=timeout,
        options=source.SAFE_OPTIONS,  # a target may be a project's database
        **params.password_kw(),
    )
    try:
        conn = psycopg2.connect(dsn)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("SET statement_timeout = %s", (STATEMENT_TIMEOUT,))
                cur.execute(statement, args or None)
                return list(cur.fetchall()) if cur.description is not None else []
        finally:
            conn.close()
    except passthrough:
        raise
    except psycopg2.Error as exc:
        raise errors.RestoreError(source.describe_libpq_error(params, str(exc))) from None
