"""What a server's recorded WAL covers: the recoverable window and the holes in it.

Pure functions of the rows, shared by restore planning (worker.wal.plan), `wal verify`, `status`
and the exporter. The covered window of a server runs from its oldest base backup's end to the
newest bundle's `covered_until`, provided the bundles from that base backup's start on are
contiguous.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from db import wal_models


@dataclass(frozen=True)
class Coverage:
    """One server's window (None: nothing recoverable yet) and its holes per timeline."""

    server: str
    start: dt.datetime | None
    until: dt.datetime | None
    holes: tuple[tuple[int, int, int], ...]  # (timeline, from LSN, to LSN)

    def lag_seconds(self, now: dt.datetime) -> float | None:
        """The current RPO: how far behind now the newest recoverable point is."""
        return None if self.until is None else max(0.0, (now - self.until).total_seconds())

    @property
    def window_seconds(self) -> float:
        if self.start is None or self.until is None:
            return 0.0
        return (self.until - self.start).total_seconds()


def contiguous(bundles: Sequence[wal_models.WalBundle], start: int) -> list[wal_models.WalBundle]:
    """The bundles that follow on from `start` without a gap (the first gap ends the run)."""
    run: list[wal_models.WalBundle] = []
    position = start
    for bundle in sorted(bundles, key=lambda b: b.start_lsn):
        if bundle.start_lsn > position:
            break
        if bundle.end_lsn > position:
            run.append(bundle)
            position = bundle.end_lsn
    return run


def window(
    bases: Sequence[wal_models.BaseBackup], bundles: Sequence[wal_models.WalBundle]
) -> tuple[dt.datetime, dt.datetime, int] | None:
    """(from, to, end LSN) the server can be recovered to; None when nothing is."""
    best: tuple[dt.datetime, dt.datetime, int] | None = None
    for base in bases:
        run = contiguous([b for b in bundles if b.timeline == base.timeline], base.start_lsn)
        end = run[-1].end_lsn if run else base.start_lsn
        if end < base.stop_lsn:
            continue
        until = max([b.covered_until for b in run], default=base.stopped_at)
        if best is None:
            best = (base.stopped_at, max(until, base.stopped_at), end)
        else:
            best = (best[0], max(best[1], until), max(best[2], end))
    return best


def gaps(bundles: Sequence[wal_models.WalBundle]) -> list[tuple[int, int]]:
    """Every hole [from, to) between consecutive bundles of one timeline, in LSN order."""
    holes: list[tuple[int, int]] = []
    ordered = sorted(bundles, key=lambda b: b.start_lsn)
    for before, after in itertools.pairwise(ordered):
        if after.start_lsn > before.end_lsn:
            holes.append((before.end_lsn, after.start_lsn))
    return holes


def holes(
    bases: Sequence[wal_models.BaseBackup], bundles: Sequence[wal_models.WalBundle]
) -> list[tuple[int, int, int]]:
    """(timeline, from, to) of every gap per timeline from the oldest base backup's start on."""
    oldest = min((b.start_lsn for b in bases), default=None)
    found: list[tuple[int, int, int]] = []
    for timeline in sorted({b.timeline for b in bundles}):
        kept = [
            b for b in bundles if b.timeline == timeline and (oldest is None or b.end_lsn > oldest)
        ]
        first = min((b.start_lsn for b in kept), default=None)
        if oldest is not None and first is not None and first > oldest:
            found.append((timeline, oldest, first))
        found.extend((timeline, a, b) for a, b in gaps(kept))
    return found


def coverage(
    server: str, bases: Sequence[wal_models.BaseBackup], bundles: Sequence[wal_models.WalBundle]
) -> Coverage:
    """The server's window and holes."""
    covered = window(bases, bundles)
    return Coverage(
        server,
        None if covered is None else covered[0],
        None if covered is None else covered[1],
        tuple(holes(bases, bundles)),
    )
