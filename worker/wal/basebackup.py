"""`backup-worker wal basebackup --server S`: pg_basebackup of the whole server into Telegram.

The tar of the base directory (-Ft to stdout, the backup manifest inside it, and the WAL
needed to make it consistent fetched into it: -X fetch) flows straight through the artifact
stream; no whole copy is ever on local disk. The start and stop positions come from
pg_basebackup's own report, the times from the server's clock. pg_verifybackup checks the
backup when it is unpacked for a restore (it reads a plain directory only).
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import tempfile
from pathlib import Path
from typing import BinaryIO, cast

from db import session as db_session
from db import wal_models
from db.queries import wal as db_wal
from worker import errors
from worker.wal import lsn, receiver, store

_START = re.compile(r"write-ahead log start point: ([0-9A-F]+/[0-9A-F]+) on timeline (\d+)")
_END = re.compile(r"write-ahead log end point: ([0-9A-F]+/[0-9A-F]+)")


def take(
    server: str,
    conninfo: str,
    database: db_session.Database,
    target: store.Store,
    password: str | None = None,
) -> wal_models.BaseBackup:
    """Take, send and record one base backup of `server`; returns its row."""
    connection = receiver.connect(conninfo, password)
    try:
        identity = receiver.identify(connection)
        started = _clock(connection)
        with tempfile.TemporaryFile() as report:
            process = subprocess.Popen(
                [
                    str(receiver.PG_BIN / "pg_basebackup"),
                    "-d",
                    conninfo,
                    "-D",
                    "-",
                    "-Ft",
                    "-X",
                    "fetch",
                    "-c",
                    "fast",
                    "-v",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=report,
                env=receiver.program_env(password),
            )
            name = f"base_{server}_{started.strftime('%Y%m%dT%H%M%SZ')}.tar"
            try:
                stored = target.put(cast(BinaryIO, process.stdout), name)
            finally:
                code = process.wait()
                if process.stdout is not None:
                    process.stdout.close()
            report.seek(0)
            text = report.read().decode(errors="replace")
        if code != 0:
            last = text.strip().splitlines()[-1] if text.strip() else f"exit status {code}"
            raise errors.WalError(f"pg_basebackup of server {server} failed: {last}")
        start, end = _START.search(text), _END.search(text)
        if start is None or end is None:
            raise errors.WalError(f"pg_basebackup of server {server} reported no WAL positions")
        stopped = _clock(connection)
    finally:
        connection.close()
    row = wal_models.BaseBackup(
        server=server,
        system_identifier=identity.system_identifier,
        timeline=int(start[2]),
        start_lsn=lsn.parse(start[1]),
        stop_lsn=lsn.parse(end[1]),
        started_at=started,
        stopped_at=stopped,
        size_bytes=stored.size_bytes,
        sha256=stored.sha256,
        compression=stored.compression,
        encrypted=stored.encrypted,
        parts=stored.parts,
    )
    with database.transaction() as session:
        db_wal.add_base_backup(session, row)
        session.expunge(row)
    return row


def _clock(connection: object) -> dt.datetime:
    with connection.cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute("SELECT clock_timestamp()")
        return cast(dt.datetime, cursor.fetchone()[0])


def unpacked(row: wal_models.BaseBackup, target: store.Store, data_dir: Path, work: Path) -> None:
    """Download the base backup into `data_dir` (created 0700) and check it with pg_verifybackup."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=False)
    tar = subprocess.Popen(
        ["tar", "-x", "-C", str(data_dir)], stdin=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert tar.stdin is not None
    try:
        target.get(_stored(row), f"base backup {row.id}", tar.stdin, work)
    finally:
        tar.stdin.close()
        error = ""
        if tar.stderr is not None:
            error = tar.stderr.read().decode(errors="replace")
            tar.stderr.close()
        code = tar.wait()
    if code != 0:
        raise errors.WalError(f"base backup {row.id} does not unpack: {error.strip()}")
    check = subprocess.run(
        [str(receiver.PG_BIN / "pg_verifybackup"), "-n", "-q", str(data_dir)],
        capture_output=True,
        check=False,
    )
    if check.returncode != 0:
        raise errors.IntegrityError(
            f"base backup {row.id} fails pg_verifybackup: "
            f"{check.stderr.decode(errors='replace').strip()}"
        )


def _stored(row: wal_models.BaseBackup | wal_models.WalBundle) -> store.Stored:
    return store.Stored(row.size_bytes, row.sha256, row.compression, row.encrypted, list(row.parts))
