"""`backups forget`: give up one backup now, as restic's `forget` (and `prune`) or pgBackRest's
`expire` do, instead of waiting for its expiry or retention.

The backup is marked `expired`, then its parts go through the sweep's own deletion path
(worker.scheduling.sweep.delete_parts, limited to this backup): one deleteMessage each, by the
bot that sent it; a message past Telegram's 48 hours that the bot may not delete is recorded
`undeletable` and the backup stays `expired` (it can no longer be restored, its messages stay
in the chat until someone deletes them by hand); when every message is gone it is `deleted`.

The last good backup of a project's database (no other active one that no verification or drill
found broken) is refused unless `force`: forgetting it leaves nothing to restore. A dry run
changes nothing and says what would be deleted.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from db import models
from db.queries import backups as db_backups
from db.queries import deletion as db_deletion
from db.queries import expiry as db_expiry
from worker import errors
from worker.jobs.runtime import Runtime
from worker.scheduling import orphans, sweep

Status = models.BackupStatus


@dataclass(frozen=True)
class PartPlan:
    """One part of the backup and what forgetting does with its message."""

    index: int
    chat_id: str
    message_id: int
    size_bytes: int
    action: str  # "delete", or the part's settled delete_status: nothing to do
    old: bool  # older than Telegram's 48 hours: deleted only by a bot with admin rights

    def to_json(self) -> dict[str, object]:
        return {
            "index": self.index,
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "size_bytes": self.size_bytes,
            "action": self.action,
            "older_than_48h": self.old,
        }


@dataclass
class Forgotten:
    """What `forget` did (or, in a dry run, would do)."""

    backup_id: uuid.UUID
    project_id: str
    database: str | None
    status_before: str
    status: str
    dry_run: bool
    parts: list[PartPlan] = field(default_factory=list)
    counts: sweep.SweepResult = field(default_factory=sweep.SweepResult)

    def to_json(self) -> dict[str, object]:
        counts = self.counts
        return {
            "backup_id": str(self.backup_id),
            "project_id": self.project_id,
            "database": self.database,
            "backup_status_before": self.status_before,
            "backup_status": self.status,
            "dry_run": self.dry_run,
            "parts": [part.to_json() for part in self.parts],
            "parts_deleted": counts.parts_deleted,
            "parts_missing": counts.parts_missing,
            "parts_undeletable": counts.parts_undeletable,
            "parts_retry": counts.parts_retry,
        }


def forget(
    rt: Runtime,
    backup_id: uuid.UUID,
    *,
    force: bool = False,
    dry_run: bool = False,
    now: dt.datetime | None = None,
) -> Forgotten:
    """Forget the backup (see the module's docstring); a dry run only plans it."""
    if not dry_run and not rt.settings.telegram_configured:
        raise errors.ConfigError(
            "TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID are needed: forget deletes the backup's"
            " messages with the bot that sent them"
        )
    moment = now or dt.datetime.now(dt.UTC)
    with rt.database.transaction() as session:
        if db_deletion.lock(session, backup_id) is None:
            raise errors.NotFoundError(f"backup {backup_id} does not exist")
        backup = db_backups.get_backup(session, backup_id)
        assert backup is not None  # locked above
        if (
            backup.status == Status.ACTIVE
            and not force
            and not db_deletion.others_good(session, backup)
        ):
            raise errors.InputError(
                f"backup {backup_id} is the last good backup of {backup.project_id}"
                f" / {backup.database or backup.type} (no other is active and unbroken):"
                " forgetting it leaves nothing to restore; give --force to forget it anyway"
            )
        before = backup.status  # the UPDATE below changes the loaded row too
        if not dry_run:
            db_deletion.expire(session, backup_id)
    old = moment - backup.created_at >= orphans.DELETE_WINDOW
    done = Forgotten(
        backup_id,
        backup.project_id,
        backup.database,
        status_before=before,
        status=before,
        dry_run=dry_run,
        parts=[
            PartPlan(
                part.index,
                part.chat_id,
                part.message_id,
                part.size_bytes,
                part.delete_status or "delete",
                old,
            )
            for part in backup.parts
        ],
    )
    if dry_run or before == Status.DELETED:
        return done
    sweep.delete_parts(rt, rt.telegram, done.counts, backup_id=backup_id)
    with rt.database.transaction() as session:
        # A forgotten backup whose parts were all gone already is finished here too.
        db_expiry.finish_backups(session, [backup_id])
        after = db_backups.get_backup(session, backup_id)
    assert after is not None
    done.status = after.status
    return done
