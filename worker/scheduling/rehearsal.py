"""`sweep --dry-run`: what the sweep would delete, found without deleting anything.

The backups the sweep would expire are found by the sweep's own statements (expiry, then each
schedule's GFS retention) in a transaction that is rolled back: the same rules, no copy of
them to drift apart. The rows those statements pick stay locked for the few milliseconds of
that transaction; a sweep running just then skips them until its next run.

Then, read only: the parts of every expired backup still to delete (with those the rolled-back
statements would expire), the orphaned part messages (worker/scheduling/orphans.py), the undo
points past their time. Old schedule runs, which the sweep prunes, are rows, not messages or
databases: not listed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from db import ledger
from db.queries import deletion as db_deletion
from db.queries import expiry as db_expiry
from worker.jobs.runtime import Runtime
from worker.scheduling import orphans, sweep, undo_points, wal_expiry

MAX_LISTED = 10_000  # parts or messages listed: more than a person reads, fewer than a page


@dataclass
class SweepPlan:
    """What one sweep would do now."""

    expire: list[uuid.UUID] = field(default_factory=list)
    retention_expire: list[uuid.UUID] = field(default_factory=list)
    parts: list[db_deletion.PendingPart] = field(default_factory=list)
    orphans: list[ledger.Unsettled] = field(default_factory=list)
    undo_points: list[tuple[str, str]] = field(default_factory=list)
    wal_base_backups: list[wal_expiry.Listed] = field(default_factory=list)
    wal_bundles: list[wal_expiry.Listed] = field(default_factory=list)
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def old(self, moment: dt.datetime) -> bool:
        """Whether a message sent at `moment` is past Telegram's 48 hours."""
        return self.now - moment >= orphans.DELETE_WINDOW

    def to_json(self) -> dict[str, object]:
        return {
            "dry_run": True,
            "expire": [str(each) for each in self.expire],
            "retention_expire": [str(each) for each in self.retention_expire],
            "parts": [
                {
                    "backup_id": str(part.backup_id),
                    "project_id": part.project_id,
                    "database": part.database,
                    "index": part.index,
                    "chat_id": part.chat_id,
                    "message_id": part.message_id,
                    "size_bytes": part.size_bytes,
                    "older_than_48h": self.old(part.created_at),
                }
                for part in self.parts
            ],
            "orphans": [
                {
                    "chat_id": message.chat_id,
                    "message_id": message.message_id,
                    "sent_at": message.sent_at.isoformat(),
                    "older_than_48h": self.old(message.sent_at),
                }
                for message in self.orphans
            ],
            "undo_points": [
                {"database": name, "expired_at": when} for name, when in self.undo_points
            ],
            "wal_base_backups": [each.to_json() for each in self.wal_base_backups],
            "wal_bundles": [each.to_json() for each in self.wal_bundles],
        }


def plan(rt: Runtime) -> SweepPlan:
    """What `sweep.sweep(rt)` would delete if it ran now."""
    found = SweepPlan()
    with rt.database.sessionmaker() as session:
        try:
            found.expire = db_expiry.expire_due(session)
            found.retention_expire = sweep.expire_by_retention(session)
            found.parts = db_deletion.pending_parts(session, limit=MAX_LISTED)
        finally:
            session.rollback()
        sent_before = found.now - orphans.GRACE
        unsettled = ledger.unsettled(session, sent_before=sent_before, limit=MAX_LISTED)
        session.rollback()
    found.orphans = [message for message in unsettled if not message.kept]
    found.undo_points = undo_points.due(rt, now=found.now)
    found.wal_base_backups, found.wal_bundles = wal_expiry.would_expire(
        rt, rt.settings.wal_basebackup_keep
    )
    return found
