"""What a recovery target needs: the base backup, the bundles after it, and whether it is covered.

The covered window of a server runs from its oldest base backup's end to the newest bundle's
`covered_until`, provided the bundles from that base backup's start on are contiguous. A
target outside it is refused before anything is downloaded, naming the window.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from db import wal_models
from worker import errors
from worker.wal import lsn


@dataclass(frozen=True)
class Target:
    """Exactly one of: a time, a position, or the latest recoverable point."""

    time: dt.datetime | None = None
    position: int | None = None

    @property
    def latest(self) -> bool:
        return self.time is None and self.position is None

    def describe(self) -> str:
        if self.time is not None:
            return self.time.isoformat()
        if self.position is not None:
            return lsn.format_lsn(self.position)
        return "the latest recoverable point"


@dataclass(frozen=True)
class Plan:
    """The base backup to start from, the bundles to replay, and the recovery settings."""

    base: wal_models.BaseBackup
    bundles: tuple[wal_models.WalBundle, ...]
    # recovery_target_* to set; empty: replay every fetched byte (the target is past the last
    # commit the WAL holds, so "all of it" is the state at the target).
    settings: tuple[tuple[str, str], ...]


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
    server: str, bases: Sequence[wal_models.BaseBackup], bundles: Sequence[wal_models.WalBundle]
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


def choose(
    server: str,
    target: Target,
    bases: Sequence[wal_models.BaseBackup],
    bundles: Sequence[wal_models.WalBundle],
) -> Plan:
    """The plan for `target`; OutsideWindow naming the covered window when it is not covered."""
    covered = window(server, bases, bundles)
    if covered is None:
        raise errors.OutsideWindow(
            f"server {server} has no base backup with its WAL recorded: nothing is recoverable "
            f"yet (take one with `backup-worker wal basebackup --server {server}`)"
        )
    start, until, end = covered
    named = f"server {server} is recoverable from {start.isoformat()} to {until.isoformat()}"
    if target.time is not None and not start <= target.time <= until:
        raise errors.OutsideWindow(f"{target.describe()} is outside the window: {named}")
    usable = [
        base
        for base in bases
        if (target.time is None or base.stopped_at <= target.time)
        and (target.position is None or base.stop_lsn <= target.position)
    ]
    if target.position is not None and (not usable or target.position > end):
        raise errors.OutsideWindow(
            f"{target.describe()} is outside the window: {named} "
            f"(WAL positions up to {lsn.format_lsn(end)})"
        )
    base = max(usable, key=lambda b: b.stopped_at)
    run = contiguous([b for b in bundles if b.timeline == base.timeline], base.start_lsn)
    settings: list[tuple[str, str]] = []
    if target.position is not None:
        settings.append(("recovery_target_lsn", lsn.format_lsn(target.position)))
    elif target.time is not None:
        last_commit = max((b.last_commit_at for b in run if b.last_commit_at), default=None)
        if last_commit is not None and target.time < last_commit:
            settings.append(("recovery_target_time", target.time.isoformat()))
        run = _up_to_time(run, target.time)
    return Plan(base, tuple(run), tuple(settings))


def _up_to_time(run: list[wal_models.WalBundle], time: dt.datetime) -> list[wal_models.WalBundle]:
    """The bundles a recovery to `time` reads: up to the first that commits after it."""
    kept: list[wal_models.WalBundle] = []
    for bundle in run:
        kept.append(bundle)
        if bundle.last_commit_at is not None and bundle.last_commit_at > time:
            break
    return kept


def gaps(bundles: Sequence[wal_models.WalBundle]) -> list[tuple[int, int]]:
    """Every hole [from, to) between consecutive bundles of one timeline, in LSN order."""
    holes: list[tuple[int, int]] = []
    ordered = sorted(bundles, key=lambda b: b.start_lsn)
    for before, after in itertools.pairwise(ordered):
        if after.start_lsn > before.end_lsn:
            holes.append((before.end_lsn, after.start_lsn))
    return holes


def verify(
    server: str, bases: Sequence[wal_models.BaseBackup], bundles: Sequence[wal_models.WalBundle]
) -> dict[str, object]:
    """The covered window and every gap per timeline from the oldest base backup on."""
    oldest = min((b.start_lsn for b in bases), default=None)
    holes: list[str] = []
    for timeline in sorted({b.timeline for b in bundles}):
        kept = [
            b for b in bundles if b.timeline == timeline and (oldest is None or b.end_lsn > oldest)
        ]
        first = min((b.start_lsn for b in kept), default=None)
        if oldest is not None and first is not None and first > oldest:
            holes.append(f"timeline {timeline}: {lsn.format_lsn(oldest)}..{lsn.format_lsn(first)}")
        holes.extend(
            f"timeline {timeline}: {lsn.format_lsn(a)}..{lsn.format_lsn(b)}" for a, b in gaps(kept)
        )
    covered = window(server, bases, bundles)
    return {
        "server": server,
        "base_backups": len(bases),
        "bundles": len(bundles),
        "from": None if covered is None else covered[0].isoformat(),
        "to": None if covered is None else covered[1].isoformat(),
        "gaps": holes,
    }
