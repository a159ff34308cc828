"""What a server's recorded WAL covers: the recoverable window and the holes in it.

Pure functions of the rows, shared by restore planning (worker.wal.plan), `wal verify`, `status`
and the exporter. The covered window of a server runs from its oldest base backup's end to the
newest bundle's `covered_until`, provided the bundles from that base backup's start on are
contiguous. A promoted replica's timeline continues its parent's at the switch position its
history file names: the path from a base backup follows each timeline up to its switch, then
the child from there (bundles of the parent past the switch are an abandoned branch).
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


Switches = dict[int, tuple[int, int]]  # parent timeline -> (child timeline, switch LSN)


def switches(histories: Sequence[wal_models.WalHistory]) -> Switches:
    """Where each timeline ends and which one goes on (the newest child when there are two)."""
    found: Switches = {}
    for history in sorted(histories, key=lambda h: h.timeline):
        found[history.parent_timeline] = (history.timeline, history.switch_lsn)
    return found


def path(
    bundles: Sequence[wal_models.WalBundle], timeline: int, start: int, ends: Switches
) -> list[wal_models.WalBundle]:
    """The bundles that follow on from `start` on `timeline` without a gap, across every
    timeline switch in `ends` (the first gap ends the run)."""
    run: list[wal_models.WalBundle] = []
    position = start
    while True:
        switch = ends.get(timeline)
        on = [b for b in bundles if b.timeline == timeline]
        if switch is not None:
            on = [b for b in on if b.start_lsn < switch[1]]
        part = contiguous(on, position)
        run.extend(part)
        position = part[-1].end_lsn if part else position
        if switch is None or position < switch[1]:
            return run
        timeline, position = switch


def window(
    bases: Sequence[wal_models.BaseBackup],
    bundles: Sequence[wal_models.WalBundle],
    histories: Sequence[wal_models.WalHistory] = (),
) -> tuple[dt.datetime, dt.datetime, int] | None:
    """(from, to, end LSN) the server can be recovered to; None when nothing is."""
    best: tuple[dt.datetime, dt.datetime, int] | None = None
    ends = switches(histories)
    for base in bases:
        run = path(bundles, base.timeline, base.start_lsn, ends)
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
    bases: Sequence[wal_models.BaseBackup],
    bundles: Sequence[wal_models.WalBundle],
    histories: Sequence[wal_models.WalHistory] = (),
) -> list[tuple[int, int, int]]:
    """(timeline, from, to) of every gap per timeline from the oldest base backup's start on:
    a timeline with a history starts at its switch position, and one a child branched off
    must reach that child's switch position."""
    oldest = min((b.start_lsn for b in bases), default=None)
    starts = {h.timeline: h.switch_lsn for h in histories}
    ends = switches(histories)
    found: list[tuple[int, int, int]] = []
    for timeline in sorted({b.timeline for b in bundles} | set(starts)):
        begin = max(x for x in (starts.get(timeline), oldest, 0) if x is not None)
        stop = ends[timeline][1] if timeline in ends else None
        kept = [
            b
            for b in bundles
            if b.timeline == timeline and b.end_lsn > begin and (stop is None or b.start_lsn < stop)
        ]
        if stop is not None and stop <= begin:
            continue  # the timeline ended before the oldest base backup: nothing needed of it
        first = min((b.start_lsn for b in kept), default=None)
        if (oldest is not None or timeline in starts) and first is not None and first > begin:
            found.append((timeline, begin, first))
        found.extend((timeline, a, b) for a, b in gaps(kept))
        last = max((b.end_lsn for b in kept), default=begin)
        if stop is not None and last < stop:
            found.append((timeline, last, stop))
    return found


def coverage(
    server: str,
    bases: Sequence[wal_models.BaseBackup],
    bundles: Sequence[wal_models.WalBundle],
    histories: Sequence[wal_models.WalHistory] = (),
) -> Coverage:
    """The server's window and holes."""
    covered = window(bases, bundles, histories)
    return Coverage(
        server,
        None if covered is None else covered[0],
        None if covered is None else covered[1],
        tuple(holes(bases, bundles, histories)),
    )
