"""A source server: its libpq parameters (from SOURCE_DATABASE_URL or a registry entry), database
names, quick queries, and libpq's errors told in words that name the server."""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field

import psycopg2  # no stubs in the venv
from psycopg2.extensions import make_dsn, parse_dsn

from worker import errors, redact

DEFAULT_CONNECT_TIMEOUT = 10  # seconds, for pg_dump and the quick queries
QUERY_TIMEOUT = "10s"  # statement_timeout of the quick queries
MAX_NAME_BYTES = 63  # PostgreSQL's NAMEDATALEN - 1
# Every session of ours in a database a project owns: startup options beat the owner's
# ALTER DATABASE … SET, so no schema of theirs comes before pg_catalog (their own count() or
# `=` would run with our rights) and no row-level security policy of theirs runs for us (with
# row_security off, a policy that would apply is an error instead: docs/security.md).
SAFE_OPTIONS = "-c search_path=pg_catalog -c row_security=off"
_QUOTED = re.compile(r'"[^"]*"')

# What a libpq program inherits of the worker's environment (SourceParams.env).
_INHERITED = frozenset({"PATH", "HOME", "TMPDIR", "TZ", "LANG", "LANGUAGE"})
# libpq's environment variables (PostgreSQL 17 docs, "Environment Variables").
_LIBPQ_NAMES = (
    "PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGPASSWORD PGPASSFILE PGSERVICE "
    "PGSERVICEFILE PGOPTIONS PGAPPNAME PGSSLMODE PGREQUIRESSL PGSSLCOMPRESSION PGSSLCERT "
    "PGSSLKEY PGSSLCERTMODE PGSSLROOTCERT PGSSLCRL PGSSLCRLDIR PGSSLSNI PGREQUIREPEER "
    "PGSSLMINPROTOCOLVERSION PGSSLMAXPROTOCOLVERSION PGSSLNEGOTIATION PGGSSENCMODE "
    "PGKRBSRVNAME PGGSSLIB PGGSSDELEGATION PGCHANNELBINDING PGREQUIREAUTH PGCONNECT_TIMEOUT "
    "PGCLIENTENCODING PGTARGETSESSIONATTRS PGLOADBALANCEHOSTS PGDATESTYLE PGTZ PGGEQO "
    "PGSYSCONFDIR PGLOCALEDIR"
)
_LIBPQ = frozenset(_LIBPQ_NAMES.split())

_TABLE_BYTES = """
SELECT COALESCE(pg_catalog.sum(pg_catalog.pg_table_size(c.oid)), 0)::bigint
       + pg_catalog.pg_table_size('pg_catalog.pg_largeobject')
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
"""


def validate_database_name(name: object) -> str:
    """The name itself if PostgreSQL could hold it; InputError otherwise.

    Any name a server can have is one a backup takes (dots, spaces, quotes, upper case,
    non-ASCII): 1 to 63 bytes of UTF-8 without NUL. It only ever travels as a value, never
    as text another program parses: libpq conninfo through make_dsn (which quotes it),
    SQL through sql.Identifier, file names through a safe form (worker.artifact.stream).
    """
    rule = "database names are 1 to 63 bytes of UTF-8 text without NUL"
    if not isinstance(name, str):
        raise errors.InputError(f"database name must be a string, not {type(name).__name__}")
    if not name:
        raise errors.InputError(f"database name is empty: {rule}")
    shown = repr(name[:40]) + ("..." if len(name) > 40 else "")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate, from JSON's \ud800
        raise errors.InputError(f"database name {shown} is not valid UTF-8: {rule}") from None
    if size > MAX_NAME_BYTES:
        raise errors.InputError(f"database name {shown} is longer than 63 bytes: {rule}")
    if "\x00" in name:
        raise errors.InputError(f"database name {shown} holds a NUL character: {rule}")
    return name


@dataclass(frozen=True)
class SourceParams:
    """libpq parameters of the source server; the password is kept apart and never shown."""

    options: tuple[tuple[str, str], ...]  # every parameter of the URL but the password
    password: str | None = field(default=None, repr=False)
    server: str = "default"  # its name in the registry (worker.postgres.servers)
    origin: str = "SOURCE_DATABASE_URL"  # where it is configured, for what to check

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        label: str = "SOURCE_DATABASE_URL",
        server: str = "default",
        origin: str = "SOURCE_DATABASE_URL",
    ) -> SourceParams:
        """Parse a libpq URL (or key=value string); ConfigError naming `label`, not echoing it."""
        try:
            parsed = parse_dsn(url)
        except (psycopg2.Error, TypeError) as exc:
            # libpq quotes pieces of the URL in its message: keep the reason, drop the pieces.
            reason = _QUOTED.sub('"..."', str(exc).strip().removeprefix("invalid dsn: "))
            raise errors.ConfigError(
                f"{label}: not a valid libpq URL ({reason}); expected "
                "postgresql://user:password@host:port/dbname?sslmode=..."
            ) from None
        port = parsed.get("port", "")
        if port and not all(piece.isdigit() for piece in port.split(",")):
            raise errors.ConfigError(f"{label}: the port must be a number")
        password = parsed.pop("password", None)
        return cls(tuple(sorted(parsed.items())), password or None, server, origin)

    def get(self, key: str) -> str | None:
        """One libpq parameter (never the password)."""
        return dict(self.options).get(key)

    @property
    def database(self) -> str | None:
        """The URL's own database (libpq defaults it to the user name when absent)."""
        return self.get("dbname")

    def password_kw(self) -> dict[str, str]:
        """`{"password": ...}` for psycopg2.connect, or nothing when the URL has none."""
        return {"password": self.password} if self.password is not None else {}

    @property
    def location(self) -> str:
        """host:port for messages, libpq's defaults where the URL is silent."""
        return f"{self.get('host') or 'local socket'}:{self.get('port') or '5432'}"

    @property
    def described(self) -> str:
        """`server NAME (host:port)`, how messages name it."""
        return f"server {self.server} ({self.location})"

    def conninfo(self, database: str | None = None) -> str:
        """A libpq conninfo without the password, for `database` (default: the URL's own)."""
        values = dict(self.options)
        if database is not None:
            values["dbname"] = validate_database_name(database)
        return str(make_dsn(**values))

    def env(self) -> dict[str, str]:
        """The environment for libpq programs: PATH, HOME, TMPDIR, the time zone, the locale and
        libpq's own variables of ours, plus PGPASSWORD and a connect timeout; nothing else.

        pg_dump and pg_restore need no bot token, no age identity and no other URL: an allow
        list keeps every setting added later out of them, and out of any core dump of theirs.
        """
        environment = program_env()
        if self.password is not None:
            environment["PGPASSWORD"] = self.password
        environment.setdefault("PGCONNECT_TIMEOUT", str(DEFAULT_CONNECT_TIMEOUT))
        return environment

    def redact(self, text: str) -> str:
        """`text` with the password and anything shaped like a credential removed."""
        return redact.redact(text, self.password or "")


def program_env() -> dict[str, str]:
    """What a PostgreSQL program inherits of the worker's environment (SourceParams.env) when it
    connects nowhere, as `--version` does."""
    return {
        name: value
        for name, value in os.environ.items()
        if name in _INHERITED or name.startswith("LC_") or name in _LIBPQ
    }


def estimate_dump_size(params: SourceParams, database: str) -> int | None:
    """Bytes of table data (heap and TOAST, no indexes) in `database`, or None if unknown."""
    try:
        with contextlib.closing(_connect(params, database)) as conn, conn.cursor() as cur:
            cur.execute(_TABLE_BYTES)
            row = cur.fetchone()
    except (psycopg2.Error, OSError):
        return None
    return int(row[0]) if row is not None and row[0] is not None else None


def database_exists(params: SourceParams, database: str) -> bool:
    """Whether `database` exists on the source server (asked through the URL's own database)."""
    name = validate_database_name(database)
    try:
        with contextlib.closing(_connect(params, None)) as conn, conn.cursor() as cur:
            cur.execute("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = %s)", (name,))
            row = cur.fetchone()
    except psycopg2.Error as exc:
        raise errors.DumpError(describe_libpq_error(params, str(exc))) from None
    return bool(row and row[0])


def list_databases(params: SourceParams) -> list[str]:
    """The server's databases a backup can take: no templates, none that refuses connections."""
    try:
        with contextlib.closing(_connect(params, None)) as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn "
                "ORDER BY datname"
            )
            rows = cur.fetchall()
    except psycopg2.Error as exc:
        raise errors.DumpError(describe_libpq_error(params, str(exc))) from None
    return [str(row[0]) for row in rows]


def server_version_num(params: SourceParams) -> int:
    """The server's `server_version_num`, e.g. 150004; DumpError if it cannot be reached."""
    try:
        with contextlib.closing(_connect(params, None)) as conn, conn.cursor() as cur:
            cur.execute("SHOW server_version_num")
            row = cur.fetchone()
    except psycopg2.Error as exc:
        raise errors.DumpError(describe_libpq_error(params, str(exc))) from None
    return int(row[0]) if row is not None else 0


def _connect(params: SourceParams, database: str | None) -> psycopg2.extensions.connection:
    timeout = params.get("connect_timeout") or str(DEFAULT_CONNECT_TIMEOUT)
    dsn = make_dsn(
        params.conninfo(database),
        connect_timeout=timeout,
        options=SAFE_OPTIONS,
        **params.password_kw(),
    )
    conn = psycopg2.connect(dsn)
    try:
        conn.set_session(readonly=True, autocommit=True)
        with conn.cursor() as cur:
            cur.execute("SET statement_timeout = %s", (QUERY_TIMEOUT,))
    except BaseException:
        conn.close()
        raise
    return conn


# {where}: `server NAME (host:port)`; {origin}: where that server is configured.
_KNOWN_ERRORS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Greedy and across lines: a database name may hold quotes and newlines.
    (
        re.compile(r'database "(.*)" does not exist', re.S),
        'database "{0}" does not exist on {where}',
    ),
    (
        re.compile(r'role "([^"]*)" does not exist'),
        'role "{0}" does not exist on {where}: check the user in {origin}',
    ),
    (
        re.compile(r'password authentication failed for user "([^"]*)"'),
        '{where} rejected the password of user "{0}": check {origin}',
    ),
    (re.compile(r"no password supplied"), "{where} wants a password and {origin} gives none"),
    (
        re.compile(r"Connection refused"),
        "{where} refused the connection: is PostgreSQL running there, and is {origin} right?",
    ),
    (
        re.compile(r'could not translate host name "([^"]*)"'),
        'the host "{0}" of {where} cannot be resolved: check {origin}',
    ),
    (re.compile(r"timeout expired"), "connecting to {where} timed out"),
    (
        re.compile(r"permission denied for (\w+ \S+)"),
        "permission denied for {0} on {where}: the user of {origin} must be able to read every "
        "object of the database (e.g. grant it pg_read_all_data)",
    ),
    (
        re.compile(r"server version: (\S+); pg_dump version: (\S+)"),
        "pg_dump {1} is older than {where} ({0}): install a postgresql-client of that major "
        "version or newer",
    ),
)


def describe_libpq_error(params: SourceParams, text: str) -> str:
    """An operator-facing message for a libpq or pg_dump error text, password removed."""
    text = params.redact(text)
    for pattern, template in _KNOWN_ERRORS:
        match = pattern.search(text)
        if match:
            return template.format(*match.groups(), where=params.described, origin=params.origin)
    lines = [line.strip().removeprefix("pg_dump: ") for line in text.splitlines() if line.strip()]
    # pg_dump's own error lines (with their detail/hint) say more than its progress chatter.
    important = [line for line in lines if line.startswith(("error:", "detail:", "hint:"))]
    detail = " ".join((important or lines)[-6:]).removeprefix("error: ")
    return detail[:1000] or "no error message"
