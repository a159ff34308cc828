"""A drill to a point: one database of a server recovered to a random mark of the window, its
rows counted in the recovered instance and compared with the counts taken at the mark.

Marks (worker.wal.marks) are the reference: each holds the rows of every table at a WAL
position a recovery stops at exactly. The drill picks one at random among those the window
covers (after the oldest base backup's end, before the newest recorded WAL's end), recovers the
server to it in a scratch instance (worker.wal.recover, nothing restored anywhere) and counts
the database there. A table whose count differs, or that one side lacks, fails the drill; the
verdict is recorded on the mark.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from db import wal_models
from db.queries import wal as db_wal
from worker import errors
from worker.jobs.runtime import Runtime
from worker.wal import lsn, plan, point


@dataclass
class Report:
    """What a drill to a point found."""

    server: str
    database: str
    mark: str  # the mark's id
    marked_at: str
    position: str
    base_backup: str = ""
    bundles: int = 0
    tables: list[dict[str, object]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(bool(t["ok"]) for t in self.tables)

    def to_json(self) -> dict[str, object]:
        return {
            "server": self.server,
            "database": self.database,
            "mark": self.mark,
            "marked_at": self.marked_at,
            "position": self.position,
            "base_backup": self.base_backup,
            "bundles": self.bundles,
            "tables": self.tables,
            "differ": [t["table"] for t in self.tables if not t["ok"]],
            "ok": self.ok,
            "seconds": self.seconds,
        }


def reachable(
    marks: Sequence[wal_models.WalMark],
    bases: Sequence[wal_models.BaseBackup],
    system: str,
    end: int | None,
) -> list[wal_models.WalMark]:
    """The marks a recovery can reach now: of the server's current `system`, after the end of
    one of its base backups and before the end of its recorded WAL (`end`)."""
    if end is None:
        return []
    return [
        mark
        for mark in marks
        if mark.system_identifier == system
        and mark.position < end
        and any(b.system_identifier == system and b.stop_lsn <= mark.position for b in bases)
    ]


def compare(recorded: dict[str, int], recovered: dict[str, int]) -> list[dict[str, object]]:
    """Every table of either side: its two counts, and whether they agree."""
    return [
        {
            "table": name,
            "recorded": recorded.get(name),
            "recovered": recovered.get(name),
            "ok": name in recorded and recorded.get(name) == recovered.get(name),
        }
        for name in sorted(set(recorded) | set(recovered))
    ]


def run(
    rt: Runtime,
    server: str,
    database: str,
    *,
    mark_id: uuid.UUID | None = None,
    run_as: str | None = None,
    rng: random.Random | None = None,
) -> Report:
    """Drill `database` of `server` to a random reachable mark (or the one named); the report,
    also recorded on the mark. OutsideWindow when no mark can be reached."""
    started = time.monotonic()
    registered = rt.registry().get(server)
    mark = _chosen(rt, registered.name, database, mark_id, rng or random.SystemRandom())
    report = Report(
        registered.name,
        database,
        str(mark.id),
        mark.taken_at.isoformat(),
        lsn.format_lsn(mark.position),
    )
    try:
        outcome, directory = point.recovered(
            rt,
            registered.name,
            database,
            plan.Target(position=mark.position),
            run_as,
            dump=False,
            count_rows=True,
        )
    except errors.WalError as exc:  # the recovery itself failed: that is the drill's verdict
        with rt.database.transaction() as session:
            db_wal.drilled(session, mark.id, "failed", {**report.to_json(), "error": str(exc)})
        raise
    point.discard(directory)
    report.base_backup = outcome.base_backup
    report.bundles = outcome.bundles
    report.tables = compare(mark.tables, outcome.tables or {})
    report.seconds = round(time.monotonic() - started, 1)
    with rt.database.transaction() as session:
        db_wal.drilled(session, mark.id, "ok" if report.ok else "failed", report.to_json())
    return report


def _chosen(
    rt: Runtime, server: str, database: str, mark_id: uuid.UUID | None, rng: random.Random
) -> wal_models.WalMark:
    with rt.database.transaction() as session:
        marks = list(db_wal.marks(session, server, database))
        bases = list(db_wal.base_backups(session, server))
        system = bases[-1].system_identifier if bases else ""
        recorded = db_wal.recorded_end(session, server, system) if bases else None
        usable = reachable(marks, bases, system, None if recorded is None else recorded[1])
        session.expunge_all()
    if mark_id is not None:
        named = [mark for mark in usable if mark.id == mark_id]
        if not named:
            raise errors.OutsideWindow(
                f"mark {mark_id} of {database} on server {server} is not one a recovery can "
                f"reach now ({len(usable)} of {len(marks)} marks are)"
            )
        return named[0]
    if not usable:
        raise errors.OutsideWindow(
            f"no mark of {database} on server {server} lies in the recoverable window "
            f"({len(marks)} recorded): take one with `backup-worker wal mark --server {server} "
            f"--database {database}` and drill once the WAL after it is recorded"
        )
    return rng.choice(usable)
