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
from worker.wal import lsn, receiver, spool, store

# A commit is stamped a moment before its WAL record is inserted; a clock read in between can
# see the stamp but not the record. Coverage is claimed this long before the clock read.
MARGIN = dt.timedelta(seconds=1)
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
        # pg_waldump reads segments by their own names; partial ones are zero-padded already.
        for segment in range(
            lsn.segment_number(start, size), lsn.segment_number(end - 1, size) + 1
        ):
            path = spool.segment_path(spool_dir, identity.timeline, segment, size)
            if path.exists():
                os.symlink(path, Path(view) / lsn.segment_name(identity.timeline, segment, size))
        result = subprocess.run(
            [
                str(receiver.PG_BIN / "pg_waldump"),
                "-p",
                view,
                "-t",
                str(identity.timeline),
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
    stamps = [
        dt.datetime.fromisoformat(match[1]).replace(tzinfo=dt.UTC)
        for match in _COMMIT.finditer(result.stdout.decode(errors="replace"))
    ]
    return (min(stamps), max(stamps)) if stamps else (None, None)


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
