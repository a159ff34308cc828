"""Drill marks: points of a server's WAL where one database's rows were counted exactly.

A restore drill compares a restored backup with the rows counted in pg_dump's own snapshot
(docs/drills.md). A drill to a point needs the same reference at a WAL position a recovery can
stop at. A snapshot alone has none: a transaction whose commit record is written can stay
invisible to a snapshot for a moment, so no position need hold exactly the rows a snapshot sees.
`take` closes that gap with locks:

1. list the database's tables; BEGIN REPEATABLE READ; LOCK them all IN SHARE MODE, which waits
   for the transactions writing to them to end and holds new writers off (in short tries, so
   that the mark never takes part in a deadlock: `_lock_all`);
2. export the transaction's snapshot (its first query, so taken after the locks: it sees every
   commit to these tables), read the WAL insert position P, and take a transaction id, so that
   the COMMIT below writes a record after P while the locks are still held;
3. a second session imports the snapshot and the first commits: writers wait milliseconds;
4. the second session counts every table's rows in the snapshot, for as long as that takes.

No commit that touches these tables lies between the snapshot and the first record at or after
P, so a recovery to P (recovery_target_lsn, inclusive: it stops after the first record at or
past P) holds exactly the rows counted. A table created between the listing and the locks is
found in the snapshot, and the mark is tried again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import time
import uuid
from dataclasses import dataclass

import psycopg2
import psycopg2.errors
from psycopg2 import sql

from db import session as db_session
from db import wal_models
from db.queries import wal as db_wal
from worker import errors
from worker.postgres import snapshot, source

ATTEMPTS = 3  # a table created while the mark was taken: tried again
LOCK_TRY = 0.05  # seconds one try to lock the tables waits (writers wait at most that long)
APPLICATION_NAME = "backup-worker mark"


@dataclass(frozen=True)
class Taken:
    """What `take` found: the position, the server's system, when, and rows per table."""

    position: int
    system_identifier: str
    at: dt.datetime
    tables: dict[str, int]


def record(control: db_session.Database, server: str, database: str, taken: Taken) -> uuid.UUID:
    """Keep `taken` as a mark of `database` on `server` (wal_marks); its id."""
    with control.transaction() as session:
        row = wal_models.WalMark(
            server=server,
            system_identifier=taken.system_identifier,
            database=database,
            position=taken.position,
            taken_at=taken.at,
            tables=taken.tables,
        )
        db_wal.add_mark(session, row)
        return row.id


def take(params: source.SourceParams, database: str, *, lock_timeout: float) -> Taken:
    """Count `database`'s rows at a WAL position a recovery can stop at exactly (above).

    WalError when the role may not lock the tables, a lock is not had in `lock_timeout`
    seconds, or the tables keep changing.
    """
    source.validate_database_name(database)
    for _ in range(ATTEMPTS):
        taken = _attempt(params, database, lock_timeout)
        if taken is not None:
            return taken
    raise errors.WalError(
        f"the tables of {database} kept changing while the mark was taken "
        f"({ATTEMPTS} tries): try again when no migration runs"
    )


def _attempt(params: source.SourceParams, database: str, lock_timeout: float) -> Taken | None:
    try:
        locker = snapshot.connect(params, database, APPLICATION_NAME)
        counter = snapshot.connect(params, database, APPLICATION_NAME)
    except psycopg2.Error as exc:
        raise errors.WalError(source.describe_libpq_error(params, str(exc))) from None
    with contextlib.closing(locker), contextlib.closing(counter):
        try:
            with locker.cursor() as lock, counter.cursor() as count:
                lock.execute("SET lock_timeout = %s", (f"{round(LOCK_TRY * 1000)}ms",))
                # Counting waits for a table's ACCESS SHARE lock as a backup's counting does.
                waited = f"{max(1, round(lock_timeout * 1000))}ms"
                count.execute("SET lock_timeout = %s", (waited,))
                lock.execute(snapshot.TABLES)
                listed = [(str(schema), str(name)) for schema, name in lock.fetchall()]
                if not snapshot.fits_in_lock_table(lock):
                    raise errors.WalError(
                        f"{database} has too many tables to lock them all at once "
                        "(max_locks_per_transaction): it cannot be marked"
                    )
                _lock_all(lock, listed, database, time.monotonic() + lock_timeout)
                lock.execute(
                    "SELECT pg_export_snapshot(), pg_current_wal_insert_lsn() - '0/0',"
                    " system_identifier::text, clock_timestamp(), txid_current()"
                    " FROM pg_control_system()"
                )
                row = lock.fetchone()
                assert row is not None
                exported, position, system, at = str(row[0]), int(row[1]), str(row[2]), row[3]
                lock.execute(snapshot.TABLES)
                seen = [(str(schema), str(name)) for schema, name in lock.fetchall()]
                count.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                count.execute("SET TRANSACTION SNAPSHOT %s", (exported,))
                lock.execute("COMMIT")
                if seen != listed:
                    count.execute("ROLLBACK")
                    return None
                tables = snapshot.counts(count)
                count.execute("COMMIT")
        except psycopg2.Error as exc:
            raise errors.WalError(_reason(params, database, exc)) from None
    assert isinstance(at, dt.datetime)
    return Taken(position, system, at, tables)


def _lock_all(
    cur: psycopg2.extensions.cursor,
    tables: list[tuple[str, str]],
    database: str,
    deadline: float,
) -> None:
    """BEGIN, and lock every table IN SHARE MODE, in tries of at most LOCK_TRY each.

    The tables are locked one after another, so a writer that holds one and wants another would
    wait for the mark while the mark waits for it. A try that gives up after LOCK_TRY, long
    before PostgreSQL's deadlock_timeout (1 s), lets go of everything: the writer never sees a
    deadlock, and it waited that long at most.
    """
    statement = sql.SQL("LOCK TABLE {} IN SHARE MODE").format(
        sql.SQL(", ").join(sql.Identifier(schema, name) for schema, name in tables)
    )
    while True:
        cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        if not tables:
            return
        try:
            cur.execute(statement)
            return
        except psycopg2.errors.LockNotAvailable:
            cur.execute("ROLLBACK")
            if time.monotonic() >= deadline:
                raise errors.WalError(
                    f"a mark of {database} could not lock its tables: a long transaction "
                    "writes to one, or holds a lock on it; try again when it has ended "
                    "(SOURCE_LOCK_WAIT_TIMEOUT sets the wait)"
                ) from None
            time.sleep(random.uniform(0.005, 0.05))  # noqa: S311 - a back-off, not a secret


def _reason(params: source.SourceParams, database: str, exc: psycopg2.Error) -> str:
    text = str(exc)
    if isinstance(exc, psycopg2.errors.LockNotAvailable):
        return (
            f"a mark of {database} could not count a table: another session holds an ACCESS "
            "EXCLUSIVE lock on it; try again when it has ended (SOURCE_LOCK_WAIT_TIMEOUT)"
        )
    if "permission denied" in text:
        return (
            f"a mark of {database} needs a role that may lock its tables IN SHARE MODE (UPDATE, "
            "DELETE or TRUNCATE on each, or their owner): "
            f"{text.strip().splitlines()[0]}"
        )
    return source.describe_libpq_error(params, text)
