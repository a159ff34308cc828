"""What a recovery target needs: the base backup, the bundles after it, and whether it is covered.

A target outside the server's covered window (db.wal_coverage) is refused before anything is
downloaded, naming the window.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from db import wal_coverage, wal_models
from worker import errors
from worker.wal import lsn

# Shared with status and the exporter (which sit below worker.wal).
contiguous = wal_coverage.contiguous
gaps = wal_coverage.gaps


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
    # The history files of the timelines the bundles cross (restore_command serves them).
    histories: tuple[wal_models.WalHistory, ...] = ()


def choose(
    server: str,
    target: Target,
    bases: Sequence[wal_models.BaseBackup],
    bundles: Sequence[wal_models.WalBundle],
    histories: Sequence[wal_models.WalHistory] = (),
) -> Plan:
    """The plan for `target`; OutsideWindow naming the covered window when it is not covered."""
    covered = wal_coverage.window(bases, bundles, histories)
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
    # Replay to a position stops after the first record at or past it, which must be recorded.
    if target.position is not None and (not usable or target.position >= end):
        raise errors.OutsideWindow(
            f"{target.describe()} is outside the window: {named} "
            f"(WAL positions up to {lsn.format_lsn(end)})"
        )
    base = max(usable, key=lambda b: b.stopped_at)
    run = wal_coverage.path(
        bundles, base.timeline, base.start_lsn, wal_coverage.switches(histories)
    )
    settings: list[tuple[str, str]] = []
    if target.position is not None:
        settings.append(("recovery_target_lsn", lsn.format_lsn(target.position)))
        run = _up_to_position(run, target.position)
    elif target.time is not None:
        last_commit = max((b.last_commit_at for b in run if b.last_commit_at), default=None)
        if last_commit is not None and target.time < last_commit:
            settings.append(("recovery_target_time", target.time.isoformat()))
        run = _up_to_time(run, target.time)
    crossed = {b.timeline for b in run}
    if run and run[-1].timeline != base.timeline:
        # Replay follows the promotions on the path, and no later timeline.
        settings.append(("recovery_target_timeline", str(run[-1].timeline)))
    needed = tuple(h for h in histories if h.timeline in crossed)
    return Plan(base, tuple(run), tuple(settings), needed)


def _up_to_position(run: list[wal_models.WalBundle], position: int) -> list[wal_models.WalBundle]:
    """The bundles a recovery to `position` reads: up to the one holding the first record at
    or past it (a bundle that ends at `position` holds none)."""
    kept: list[wal_models.WalBundle] = []
    for bundle in run:
        kept.append(bundle)
        if bundle.end_lsn > position:
            break
    return kept


def _up_to_time(run: list[wal_models.WalBundle], time: dt.datetime) -> list[wal_models.WalBundle]:
    """The bundles a recovery to `time` reads: up to the first that commits after it."""
    kept: list[wal_models.WalBundle] = []
    for bundle in run:
        kept.append(bundle)
        if bundle.last_commit_at is not None and bundle.last_commit_at > time:
            break
    return kept


def verify(
    server: str,
    bases: Sequence[wal_models.BaseBackup],
    bundles: Sequence[wal_models.WalBundle],
    histories: Sequence[wal_models.WalHistory] = (),
) -> dict[str, object]:
    """The covered window and every gap per timeline from the oldest base backup on."""
    holes = [
        f"timeline {timeline}: {lsn.format_lsn(a)}..{lsn.format_lsn(b)}"
        for timeline, a, b in wal_coverage.holes(bases, bundles, histories)
    ]
    covered = wal_coverage.window(bases, bundles, histories)
    return {
        "server": server,
        "base_backups": len(bases),
        "bundles": len(bundles),
        "from": None if covered is None else covered[0].isoformat(),
        "to": None if covered is None else covered[1].isoformat(),
        "timelines": sorted({b.timeline for b in bundles} | {h.timeline for h in histories}),
        "gaps": holes,
    }
