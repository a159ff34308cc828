"""WAL expiry: base backups beyond WAL_BASEBACKUP_KEEP per server and the WAL none of the kept
ones needs (db.queries.wal.expirable) lose their messages, then their records.

A record goes only once each of its parts' messages is settled (deleted, not found, or past
Telegram's 48 hours); a part that met a network or server error keeps the record for the next
sweep. Until then an expired base backup's WAL may already be gone: its window is then
incomplete, so restore planning never starts from it.
"""

from __future__ import annotations

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
    return done


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
