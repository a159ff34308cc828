"""The dump's own snapshot: a session of ours exports it, counts every table's rows in it.

`exported()` opens a REPEATABLE READ, READ ONLY transaction, exports its snapshot
(`pg_export_snapshot()`) and yields its id for `pg_dump --snapshot=<id>` at once, while a thread
counts the rows of every table in it: pg_dump then sees exactly the rows that were counted, and
does not wait for the counting to start. A snapshot can be imported only while the transaction
that exported it is open, so the session stays open (its own timeout off) until the block ends,
after pg_dump has finished. The extensions the database uses (pg_extension) are recorded too,
counted or not. A held count waits for `Export.begin_counting()` (or the block's end): the dump
makes its first part without a count beside it on the server's cores.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import make_dsn

from worker import errors
from worker.postgres import dump as pgdump
from worker.postgres import source

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = "10"  # seconds
CANCEL_EVERY = 0.1  # seconds between two cancels of a count that is to end
# Plain tables and partitions of the database's own (no partitioned parents, whose rows are
# their partitions', no table of an extension, whose rows pg_dump leaves to the extension).
TABLES = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp\\_%%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""
EXTENSIONS = "SELECT extname FROM pg_extension ORDER BY 1"
# Who owns the database: a restore into a new database hands it to that role (load.py).
OWNER = (
    "SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_catalog.pg_database "
    "WHERE datname = pg_catalog.current_database()"
)


@dataclass(frozen=True)
class Contents:
    """What a database held in one snapshot: rows per table (None: not counted), extensions,
    and the role that owned the database (None: not recorded, older backups)."""

    tables: dict[str, int] | None
    extensions: list[str]
    seconds: float = 0.0  # what counting took
    owner: str | None = None

    def to_json(self) -> dict[str, object]:
        """As stored in backups.contents."""
        return {
            "tables": self.tables,
            "extensions": self.extensions,
            "seconds": self.seconds,
            "owner": self.owner,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object] | None) -> Contents | None:
        """The contents stored with a backup; None when it recorded none (older backups)."""
        if not isinstance(data, Mapping):
            return None
        tables = data.get("tables")
        extensions = data.get("extensions")
        owner = data.get("owner")
        return cls(
            {str(k): int(v) for k, v in tables.items()} if isinstance(tables, Mapping) else None,
            [str(e) for e in extensions] if isinstance(extensions, list) else [],
            owner=owner if isinstance(owner, str) and owner else None,
        )


def key(schema: str, table: str) -> str:
    """A table's key in Contents.tables: `schema.table`, each quoted as SQL needs it."""
    return f"{_quoted(schema)}.{_quoted(table)}"


class Export:
    """An exported snapshot (`snapshot`: its id, None when rows are not counted) and its
    contents, counted beside whatever runs meanwhile."""

    def __init__(self, snapshot: str | None, ready: Contents | None) -> None:
        self.snapshot = snapshot
        self._found = ready  # set by the counting thread when there is one
        self._thread: threading.Thread | None = None
        self._error: errors.DumpError | None = None
        self._stop = threading.Event()
        self._go = threading.Event()  # set: the counting thread may count

    def count_beside(
        self,
        conn: psycopg2.extensions.connection,
        params: source.SourceParams,
        base: Contents,
        *,
        held: bool = False,
    ) -> None:
        """Count the rows of every table in a thread, on the exporting session `conn`; when
        `held`, only from `begin_counting()` (or wait(), contents(), cancel()) on."""
        if not held:
            self._go.set()

        def run() -> None:
            self._go.wait()
            if self._stop.is_set():
                return
            started = time.monotonic()
            try:
                with conn.cursor() as cur:
                    tables = counts(cur, stop=self._stop)
            except psycopg2.Error as exc:
                self._error = _failure(params, exc)
                return
            seconds = round(time.monotonic() - started, 3)
            self._found = Contents(tables, base.extensions, seconds, base.owner)

        self._thread = threading.Thread(target=run, name="row-counts", daemon=True)
        self._thread.start()

    def begin_counting(self) -> None:
        """Let a held count go (once; later calls do nothing)."""
        self._go.set()

    def contents(self) -> Contents:
        """The contents, once counted; DumpError when counting failed."""
        self.wait()
        if self._error is not None:
            raise self._error
        if self._found is None:
            raise errors.DumpError("counting the rows of the dump's snapshot ended without a count")
        return self._found

    def wait(self) -> None:
        """Until the counting thread, if any, has ended (a held count goes now)."""
        self._go.set()
        if self._thread is not None:
            self._thread.join()

    def cancel(self, conn: psycopg2.extensions.connection) -> None:
        """End the counting now: no further table, and the running count cancelled (again
        until the thread ends: a cancel sent before a query starts finds nothing to cancel)."""
        self._stop.set()
        self._go.set()
        while self._thread is not None and self._thread.is_alive():
            conn.cancel()
            self._thread.join(CANCEL_EVERY)


@contextlib.contextmanager
def exported(
    params: source.SourceParams,
    database: str,
    *,
    count_rows: bool,
    lock_timeout: float,
    application_name: str = pgdump.APPLICATION_NAME,
    held: bool = False,
) -> Iterator[Export]:
    """Yield the export (its snapshot None when not counting); DumpError if it cannot.

    Counting waits at most `lock_timeout` seconds for each table's ACCESS SHARE lock; when
    `held`, it begins only at `Export.begin_counting()` or the block's end. Leaving the block
    early (pg_dump failed) cancels a count still running.
    """
    try:
        conn = connect(params, database, application_name)
    except psycopg2.Error as exc:
        raise _failure(params, exc) from None
    export: Export | None = None
    try:
        try:
            with conn.cursor() as cur:
                cur.execute("SET lock_timeout = %s", (f"{max(1, round(lock_timeout * 1000))}ms",))
                cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cur.execute(EXTENSIONS)
                extensions = [str(row[0]) for row in cur.fetchall()]
                cur.execute(OWNER)
                found = cur.fetchone()
                owner = str(found[0]) if found and found[0] is not None else None
                base = Contents(None, extensions, 0.0, owner)
                if count_rows and fits_in_lock_table(cur):
                    cur.execute("SELECT pg_export_snapshot()")
                    row = cur.fetchone()
                    export = Export(str(row[0]) if row else None, None)
                    export.count_beside(conn, params, base, held=held)
                else:
                    export = Export(None, base)
        except psycopg2.Error as exc:
            raise _failure(params, exc) from None
        try:
            yield export
        except BaseException:
            export.cancel(conn)  # a count still running ends now, not after every table
            raise
    finally:
        if export is not None:
            export.wait()  # the session is the thread's until it ends
        conn.close()


# The server's lock table has room for max_locks_per_transaction x (max_connections +
# max_prepared_transactions) locks, shared by every session. Counting holds a lock on each table
# until pg_dump, which locks each table too, has finished: 2 locks a table. Counting goes ahead
# only while that stays within this share of the room, the rest left to everyone else.
LOCK_SHARE = 0.25
LOCK_ROOM = """
SELECT current_setting('max_locks_per_transaction')::int
       * (current_setting('max_connections')::int
          + current_setting('max_prepared_transactions')::int)
"""


def fits_in_lock_table(cur: psycopg2.extensions.cursor) -> bool:
    """Whether counting every table leaves the server's lock table room (else: not counted,
    and the dump never fails with "out of shared memory" on a server with default settings)."""
    cur.execute(f"SELECT count(*) FROM ({TABLES}) AS counted")
    row = cur.fetchone()
    tables = int(row[0]) if row else 0
    cur.execute(LOCK_ROOM)
    room = cur.fetchone()
    fits = 2 * tables <= LOCK_SHARE * (int(room[0]) if room else 0)
    if not fits:
        log.warning(
            "row counts skipped: %d tables would take more of the server's lock table than it "
            "can spare; the drill checks this backup's tables without counts",
            tables,
        )
    return fits


def counts(
    cur: psycopg2.extensions.cursor, *, stop: threading.Event | None = None
) -> dict[str, int]:
    """Rows per table (Contents.tables) as the cursor's transaction sees them; once `stop` is
    set, the tables not yet counted are left out."""
    cur.execute(TABLES)
    found: dict[str, int] = {}
    for schema, table in cur.fetchall():
        if stop is not None and stop.is_set():
            break
        cur.execute(
            sql.SQL("SELECT pg_catalog.count(*) FROM {}.{}").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
        )
        row = cur.fetchone()
        found[key(schema, table)] = int(row[0]) if row else 0
    return found


def table_counts(params: source.SourceParams, database: str) -> dict[str, int]:
    """Rows per table of `database` now (a restored drill database); RestoreError if it fails."""
    try:
        conn = connect(params, database, pgdump.APPLICATION_NAME)
        # A scratch database nobody writes to: one short transaction per table, so its locks
        # go at once and thousands of tables count on a server with default settings.
        conn.autocommit = True
        with contextlib.closing(conn), conn.cursor() as cur:
            return counts(cur)
    except psycopg2.Error as exc:
        raise errors.RestoreError(source.describe_libpq_error(params, str(exc))) from None


def available_extensions(params: source.SourceParams) -> set[str]:
    """The extensions the server can create (pg_available_extensions); RestoreError if not."""
    try:
        conn = connect(params, None, pgdump.APPLICATION_NAME)
        with contextlib.closing(conn), conn.cursor() as cur:
            cur.execute("SELECT name FROM pg_available_extensions")
            return {str(row[0]) for row in cur.fetchall()}
    except psycopg2.Error as exc:
        raise errors.RestoreError(source.describe_libpq_error(params, str(exc))) from None


def _quoted(name: str) -> str:
    plain = name.isidentifier() and name == name.lower() and name.isascii()
    return name if plain else '"' + name.replace('"', '""') + '"'


def connect(
    params: source.SourceParams, database: str | None, application_name: str
) -> psycopg2.extensions.connection:
    timeout = params.get("connect_timeout") or CONNECT_TIMEOUT
    dsn = make_dsn(
        params.conninfo(database),
        connect_timeout=timeout,
        application_name=application_name,
        # Counting a large table takes long, and the session then waits idle for pg_dump.
        options=f"-c statement_timeout=0 -c idle_in_transaction_session_timeout=0 "
        f"{source.SAFE_OPTIONS}",
        **params.password_kw(),
    )
    conn = psycopg2.connect(dsn)
    conn.autocommit = True  # BEGIN is ours, so that nothing else opens a transaction first
    return conn


def _failure(params: source.SourceParams, exc: psycopg2.Error) -> errors.DumpError:
    text = str(exc)
    if "lock timeout" in text:
        return errors.DumpError(
            "counting rows for the backup could not lock a table: another session holds an "
            "ACCESS EXCLUSIVE lock on it; try again when that session ends "
            "(SOURCE_LOCK_WAIT_TIMEOUT sets the wait)"
        )
    failure = errors.DumpInterrupted if pgdump.interrupted(1, text) else errors.DumpError
    return failure(
        f"counting rows for the backup failed: {source.describe_libpq_error(params, text)}"
    )
