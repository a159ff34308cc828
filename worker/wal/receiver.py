"""The source side of the stream: the server's identity, the retention slot, pg_receivewal.

Why pg_receivewal runs without the slot: pg_receivewal confirms to the server what it wrote to
local disk, and with `--slot` the server then drops the WAL before it. A host that dies holding
WAL it had not uploaded would lose it for good. So the slot (`bw_<server>`, physical, reserved
at creation) is ours alone: nothing streams from it, and it is moved with
pg_replication_slot_advance only after a bundle ending there is recorded in the control plane.
The server therefore keeps every byte from the last recorded position, whichever host streams
next; pg_receivewal is started at that position (spool.seed).
"""

from __future__ import annotations

import ctypes
import datetime as dt
import os
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import psycopg2.extensions

from worker import errors
from worker.wal import lsn

PG_BIN = Path("/usr/lib/postgresql/15/bin")
_PR_SET_PDEATHSIG = 1
_KEPT = frozenset({"PATH", "HOME", "TMPDIR", "TZ", "LANG", "PGCONNECT_TIMEOUT", "PGSSLMODE"})


@dataclass(frozen=True)
class Identity:
    """What names a server's WAL: its system identifier, timeline and segment size."""

    system_identifier: str
    timeline: int
    segment_size: int


def slot_name(server: str) -> str:
    """The retention slot's name: `bw_` and the server's name, as a slot name allows."""
    return "bw_" + re.sub(r"[^a-z0-9_]", "_", server.lower())[:60]


def connect(conninfo: str, password: str | None = None) -> psycopg2.extensions.connection:
    """An autocommit connection (a normal one, to the conninfo's database)."""
    try:
        connection = (
            psycopg2.connect(conninfo, password=password)
            if password
            else psycopg2.connect(conninfo)
        )
    except psycopg2.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "refused"
        raise errors.WalError(f"cannot connect to the source server: {first}") from None
    connection.autocommit = True
    return connection


def identify(connection: psycopg2.extensions.connection) -> Identity:
    """The server's system identifier, current timeline and WAL segment size.

    The timeline is the one WAL is written on now (the name of the current WAL file), not the
    last checkpoint's: a promoted server writes its new timeline before its first checkpoint
    on it ends, and a streamer that took the checkpoint's would read the new timeline's WAL
    as the old one's.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.system_identifier::text, "
            "('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int, "
            "current_setting('wal_segment_size')::text "
            "FROM pg_control_system() s"
        )
        row = cursor.fetchone()
    assert row is not None
    return Identity(str(row[0]), int(row[1]), _size(str(row[2])))


def _size(text: str) -> int:
    units = {"kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}
    for unit, factor in units.items():
        if text.endswith(unit):
            return int(text[: -len(unit)]) * factor
    return int(text)


def ensure_slot(connection: psycopg2.extensions.connection, name: str) -> int:
    """Create the retention slot if missing; returns its restart position."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT restart_lsn::text FROM pg_replication_slots WHERE slot_name = %s", (name,)
        )
        row = cursor.fetchone()
        if row is None:
            cursor.execute(
                "SELECT lsn::text FROM pg_create_physical_replication_slot(%s, true)", (name,)
            )
            row = cursor.fetchone()
    assert row is not None
    assert row[0] is not None
    return lsn.parse(str(row[0]))


def advance_slot(connection: psycopg2.extensions.connection, name: str, position: int) -> None:
    """Let the server drop WAL before `position` (recorded bundles only)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_replication_slot_advance(%s, %s::pg_lsn)", (name, lsn.format_lsn(position))
        )


def sample(
    connection: psycopg2.extensions.connection, application: str
) -> tuple[dt.datetime, int, int | None]:
    """(server clock, server's flushed WAL end, what pg_receivewal reported written)."""
    with connection.cursor() as cursor:
        # The clock is read first: every commit stamped before it is flushed by the next read
        # but for a commit caught between its stamp and its WAL insert (see bundles.MARGIN).
        cursor.execute("SELECT clock_timestamp()")
        clock = cursor.fetchone()
        cursor.execute(
            "SELECT pg_current_wal_flush_lsn()::text, "
            "(SELECT max(write_lsn)::text FROM pg_stat_replication WHERE application_name = %s)",
            (application,),
        )
        row = cursor.fetchone()
    assert clock is not None
    assert row is not None
    written = None if row[1] is None else lsn.parse(str(row[1]))
    return clock[0], lsn.parse(str(row[0])), written


def program_env(password: str | None) -> dict[str, str]:
    """The environment of pg_receivewal and pg_basebackup: the password never in an argument."""
    env = {key: value for key, value in os.environ.items() if key in _KEPT or key.startswith("LC_")}
    if password:
        env["PGPASSWORD"] = password
    return env


def _die_with_parent() -> None:
    """pg_receivewal ends with the streamer, even a SIGKILLed one (Linux's PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def start_receiver(
    conninfo: str, spool: Path, application: str, log: Path, password: str | None = None
) -> subprocess.Popen[bytes]:
    """pg_receivewal into `spool`, reporting its position every second under `application`."""
    env = program_env(password)
    env["PGAPPNAME"] = application
    with log.open("ab") as output:
        return subprocess.Popen(
            [
                str(PG_BIN / "pg_receivewal"),
                "-D",
                str(spool),
                "-d",
                conninfo,
                "-s",
                "1",
                "-n",
                "--no-sync",
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - one prctl call, no locks taken
        )
