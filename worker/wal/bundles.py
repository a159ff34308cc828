"""A bundle: one contiguous range of a server's WAL, stored as one artifact and recorded.

A busy server's WAL goes out in bundles of up to WAL_BUNDLE_BYTES (several segments per
message); a quiet one's at least every WAL_FLUSH_SECONDS while it writes. The commit
timestamps a bundle holds are read with pg_waldump, so that a recovery knows which targets
need a recovery_target_time and which are simply "all of it".
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from db import wal_models
from worker import errors
from worker.wal import lsn, receiver, spool, store

# A commit is stamped a moment before its WAL record is inserted; a clock read in between can
# see the stamp but not the record. Coverage is claimed this long before the clock read.
MARGIN = dt.timedelta(seconds=1)
# pg_waldump stops at the first incomplete record, which is the last one of a range cut where
# pg_receivewal had written to; any stop earlier than this before the end is a real failure.
_TAIL = 1 << 16
_STOPPED = re.compile(r"error in WAL record at ([0-9A-F]+/[0-9A-F]+)")
_NOTHING = re.compile(r"could not find a valid record after")
_COMMIT = re.compile(r"desc: COMMIT (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) UTC")


@dataclass(frozen=True)
class Range:
    """What a bundle holds."""

    server: str
    identity: receiver.Identity
    start: int
    end: int


def commit_times(
    spool_dir: Path, identity: receiver.Identity, start: int, end: int
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The first and last commit timestamps in [start, end) of the spool's WAL."""
    size = identity.segment_size
    with tempfile.TemporaryDirectory(prefix="waldump-") as view:
        # A private copy of the range, from the start of its first segment (pg_waldump reads
        # page headers there): the spool's files change under pg_receivewal meanwhile.
        first = lsn.segment_number(start, size) * size
        writer = spool.SegmentWriter(Path(view), identity.timeline, first, size)
        for chunk in spool.read_range(spool_dir, identity.timeline, first, end, size):
            writer.write(chunk)
        result = _waldump(view, identity.timeline, start, end)
        if result.returncode != 0 and _NOTHING.search(result.stderr.decode(errors="replace")):
            # No valid record starts at or after `start` in its segment: the range begins in
            # the padding after a WAL switch (pg_backup_stop, archive_timeout), or inside one
            # record that ends later. Records go on at the next segment's start, if in range.
            following = (lsn.segment_number(start, size) + 1) * size
            if following >= end:
                return (None, None)
            result = _waldump(view, identity.timeline, following, end)
    _check_read(result.returncode, result.stderr.decode(errors="replace"), end)
    stamps = [
        dt.datetime.fromisoformat(match[1]).replace(tzinfo=dt.UTC)
        for match in _COMMIT.finditer(result.stdout.decode(errors="replace"))
    ]
    return (min(stamps), max(stamps)) if stamps else (None, None)


def _waldump(view: str, timeline: int, start: int, end: int) -> subprocess.CompletedProcess[bytes]:
    """pg_waldump's transaction records of [start, end) in `view`."""
    try:
        return subprocess.run(
            [
                str(receiver.PG_BIN / "pg_waldump"),
                "-p",
                view,
                "-t",
                str(timeline),
                "-s",
                lsn.format_lsn(start),
                "-e",
                lsn.format_lsn(end),
                "-r",
                "Transaction",
            ],
            capture_output=True,
            env={**os.environ, "TZ": "UTC", "LC_ALL": "C"},
            check=False,
        )
    except FileNotFoundError:
        # Without commit timestamps a restore could not tell which targets need a
        # recovery_target_time: no bundle is recorded without them.
        raise errors.WalError(
            f"{receiver.PG_BIN / 'pg_waldump'} is missing: install the PostgreSQL server "
            "package of the server's major version (postgresql-15) on the streaming host"
        ) from None


def make(
    where: Range, spool_dir: Path, target: store.Store, covered_until: dt.datetime
) -> wal_models.WalBundle:
    """Send [start, end) of the spool's WAL; the bundle row to record (not yet recorded)."""
    identity = where.identity
    first, last = commit_times(spool_dir, identity, where.start, where.end)
    name = f"wal_{where.server}_{identity.timeline:08X}_{where.start:016X}-{where.end:016X}"
    chunks = spool.read_range(
        spool_dir, identity.timeline, where.start, where.end, identity.segment_size
    )
    stored = target.put(spool.RangeReader(chunks), name)  # type: ignore[arg-type]
    return wal_models.WalBundle(
        server=where.server,
        system_identifier=identity.system_identifier,
        timeline=identity.timeline,
        start_lsn=where.start,
        end_lsn=where.end,
        first_commit_at=first,
        last_commit_at=last,
        covered_until=covered_until,
        size_bytes=stored.size_bytes,
        sha256=stored.sha256,
        compression=stored.compression,
        encrypted=stored.encrypted,
        parts=stored.parts,
    )


def _check_read(code: int, stderr: str, end: int) -> None:
    """WalError unless pg_waldump read the range through (to its last, cut, record)."""
    if code == 0:
        return
    stopped = _STOPPED.search(stderr)
    if stopped is None or lsn.parse(stopped[1]) < end - _TAIL:
        last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit status {code}"
        raise errors.WalError(f"pg_waldump could not read the bundle's WAL through: {last}")
