"""WAL expiry: base backups beyond WAL_BASEBACKUP_KEEP per server and the WAL none of the kept
ones needs (db.queries.wal.expirable) lose their messages, then their records; the drill marks
no kept base backup reaches go with them.

A record goes only once each of its parts' messages is settled (deleted, not found, or past
Telegram's 48 hours); a part that met a network or server error keeps the record for the next
sweep. Until then an expired base backup's WAL may already be gone: its window is then
incomplete, so restore planning never starts from it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from db.columns import JSONObject
from db.queries import expiry as db_expiry
from db.queries import wal as db_wal
from worker.jobs.runtime import Runtime

Delete = Callable[[db_expiry.PartRef], db_expiry.PartOutcome]


@dataclass
class WalExpiry:
    """What one sweep expired of the WAL side."""

    base_backups: int = 0
    bundles: int = 0
    parts_settled: int = 0
    parts_retry: int = 0
    marks: int = 0  # drill marks no kept base backup reaches any more


def expire(rt: Runtime, delete: Delete, keep: int) -> WalExpiry:
    """Delete the messages, then the records, of what `keep` no longer retains."""
    done = WalExpiry()
    with rt.database.transaction() as session:
        bases, bundles = db_wal.expirable(session, keep)
        rows: list[db_wal.BaseBackup | db_wal.Bundle] = [*bases, *bundles]
        session.expunge_all()
    for row in rows:
        outcomes = [delete(_ref(row.id, part)) for part in row.parts]
        settled = sum(1 for outcome in outcomes if outcome.status is not None)
        done.parts_settled += settled
        done.parts_retry += len(outcomes) - settled
        if settled < len(outcomes):
            continue
        with rt.database.transaction() as session:
            db_wal.forget(session, row)
        if isinstance(row, db_wal.BaseBackup):
            done.base_backups += 1
        else:
            done.bundles += 1
    with rt.database.transaction() as session:
        done.marks = db_wal.forget_unreachable_marks(session)
    return done


@dataclass(frozen=True)
class Listed:
    """A base backup or bundle the sweep would expire (`sweep --dry-run`)."""

    kind: str  # "base backup" or "bundle"
    id: uuid.UUID
    server: str
    timeline: int
    start_lsn: int
    end_lsn: int
    at: dt.datetime  # a base backup's end, a bundle's covered_until
    parts: int
    size_bytes: int

    def __str__(self) -> str:
        return (
            f"{self.kind} {str(self.id)[:8]} of {self.server}, timeline {self.timeline}"
            f" {_lsn(self.start_lsn)}..{_lsn(self.end_lsn)} ({self.at.isoformat()}),"
            f" {self.parts} message(s)"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "id": str(self.id),
            "server": self.server,
            "timeline": self.timeline,
            "start_lsn": _lsn(self.start_lsn),
            "end_lsn": _lsn(self.end_lsn),
            "at": self.at.isoformat(),
            "messages": self.parts,
            "size_bytes": self.size_bytes,
        }


def would_expire(rt: Runtime, keep: int) -> tuple[list[Listed], list[Listed]]:
    """(base backups, bundles) that `expire` with `keep` would delete now; nothing changes."""
    with rt.database.sessionmaker() as session:
        try:
            bases, bundles = db_wal.expirable(session, keep)
            return (
                [
                    Listed(
                        "base backup",
                        b.id,
                        b.server,
                        b.timeline,
                        b.start_lsn,
                        b.stop_lsn,
                        b.stopped_at,
                        len(b.parts),
                        b.size_bytes,
                    )
                    for b in bases
                ],
                [
                    Listed(
                        "bundle",
                        b.id,
                        b.server,
                        b.timeline,
                        b.start_lsn,
                        b.end_lsn,
                        b.covered_until,
                        len(b.parts),
                        b.size_bytes,
                    )
                    for b in bundles
                ],
            )
        finally:
            session.rollback()


def _lsn(position: int) -> str:
    """A WAL position as PostgreSQL prints it (worker.wal.lsn sits above this layer)."""
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


def _ref(row_id: uuid.UUID, part: JSONObject) -> db_expiry.PartRef:
    bot = part.get("bot_id")
    return db_expiry.PartRef(
        backup_id=row_id,
        index=int(str(part["index"])),
        chat_id=str(part["chat_id"]),
        message_id=int(str(part["message_id"])),
        attempts=0,  # no count is kept: a part that keeps failing is retried every sweep
        bot_id=None if bot is None else str(bot),
    )
