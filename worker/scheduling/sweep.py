"""The expiry sweep: expire backups, apply each schedule's retention, delete their messages.

1. Active backups past expires_at become `expired` (one set-based UPDATE).
2. Schedules with grandfather-father-son rules expire the backups those rules do not keep.
3. Each part of an expired backup gets one deleteMessage. Telegram lets a bot delete its own
   messages only within 48 hours (unless it is a chat admin with can_delete_messages), so an
   older part is refused with "message can't be deleted": that is recorded as `undeletable`
   and never tried again. A network or server error is retried by later sweeps, at most
   MAX_DELETE_ATTEMPTS times. A backup whose parts are all gone becomes `deleted`. Each
   further copy of a part (BACKUP_COPIES) gets its deleteMessage likewise.
4. schedule_runs older than db.queries.schedule_runs.RUN_RETENTION are pruned, except each
   schedule's
   newest run and the runs whose job is unfinished or whose backup is active
   (db.queries.schedule_runs.prune_runs says why that is safe).
5. Undo points of restores past RESTORE_UNDO_HOURS are dropped (worker/scheduling/undo_points.py).
6. Base backups beyond WAL_BASEBACKUP_KEEP per server and the WAL before the oldest kept one
   lose their messages, then their records (worker/scheduling/wal_expiry.py).

The newest active backup of each project and database survives every step (db.queries.expiry).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass

from sqlalchemy.orm import Session

from db import models
from db.queries import copies as db_copies
from db.queries import expiry as db_expiry
from db.queries import schedule_runs as db_schedule_runs
from worker import errors
from worker.jobs.runtime import Runtime
from worker.scheduling import orphans, retention, undo_points, wal_expiry
from worker.telegram.client import TelegramClient

log = logging.getLogger(__name__)

PART_BATCH = 200  # parts claimed per transaction
# Runs looked at per transaction when pruning. The first prune of a table that was never
# pruned can have tens of millions of rows to delete: in one statement that is a transaction
# of minutes whose snapshot holds back vacuum everywhere and whose failure undoes it all.
# Batches commit in well under a second each.
RUN_PRUNE_BATCH = 5_000
MAX_DELETE_ATTEMPTS = 5  # sweeps that may retry a part after network or server errors
# worker.telegram.answers's texts for deleteMessage's two final 400 answers.
NOT_FOUND_TEXT = "message not found"
PartStatus = models.PartDeleteStatus


@dataclass
class SweepResult:
    """What one sweep did."""

    expired: int = 0
    retention_expired: int = 0
    parts_deleted: int = 0
    parts_missing: int = 0
    parts_undeletable: int = 0
    copies_deleted: int = 0  # further copies (BACKUP_COPIES) whose message went
    copies_lost: int = 0  # ... gone already, or refused for good (a revoked bot, a deleted chat)
    parts_retry: int = 0
    backups_deleted: int = 0
    runs_pruned: int = 0
    undo_points_dropped: int = 0
    orphans_kept: int = 0  # sent part messages found held by a recorded backup
    orphans_deleted: int = 0  # sent part messages no backup holds, deleted
    orphans_undeletable: int = 0  # ... found after Telegram's 48 hours
    wal_base_backups_deleted: int = 0
    wal_bundles_deleted: int = 0

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict."""
        return asdict(self)


def sweep(rt: Runtime) -> SweepResult:
    """Run the four steps once; returns the counts."""
    result = SweepResult()
    with rt.database.transaction() as session:
        result.expired = len(db_expiry.expire_due(session))
    result.retention_expired = apply_retention(rt)
    if rt.settings.telegram_configured:
        delete_parts(rt, rt.telegram, result)
        delete_copies(rt, rt.telegram, result)
        found = orphans.sweep(rt, rt.telegram)
        result.orphans_kept = found.kept
        result.orphans_deleted = found.deleted
        result.orphans_undeletable = found.undeletable
        wal = wal_expiry.expire(
            rt, lambda ref: delete_one(rt.telegram, ref), rt.settings.wal_basebackup_keep
        )
        result.wal_base_backups_deleted = wal.base_backups
        result.wal_bundles_deleted = wal.bundles
    else:
        log.warning("sweep: TELEGRAM_BOT_TOKEN/TELEGRAM_CHAT_ID unset, messages not deleted")
    result.undo_points_dropped = len(undo_points.drop_expired(rt))
    # Last: a long first prune must not hold up the deletes above.
    result.runs_pruned = prune_runs(rt)
    if (
        result.expired
        or result.retention_expired
        or result.parts_deleted
        or result.runs_pruned
        or result.orphans_deleted
        or result.wal_bundles_deleted
        or result.wal_base_backups_deleted
    ):
        log.info("sweep: %s", result.to_json())
    return result


def apply_retention(rt: Runtime) -> int:
    """Expire what the GFS rules of each schedule do not keep; returns how many."""
    with rt.database.transaction() as session:
        return len(expire_by_retention(session))


def expire_by_retention(session: Session) -> list[uuid.UUID]:
    """In `session`: expire what the GFS rules of each schedule do not keep; their ids."""
    drop: list[uuid.UUID] = []
    for entry in db_expiry.retention_sets(session):
        policy = retention.Policy.of(*entry.keep)
        candidates = [retention.Candidate(bid, created) for bid, created in entry.backups]
        kept = retention.keep(candidates, policy, entry.timezone)
        drop.extend(c.backup_id for c in candidates if c.backup_id not in kept)
    return db_expiry.expire_ids(session, drop)


def prune_runs(rt: Runtime, *, batch: int = RUN_PRUNE_BATCH) -> int:
    """Delete the schedule runs nothing needs any more, batch by batch; returns how many."""
    pruned = 0
    after: db_schedule_runs.Cursor | None = None
    while True:
        with rt.database.transaction() as session:
            step = db_schedule_runs.prune_runs(session, after=after, limit=batch)
        pruned += step.deleted
        if step.scanned < batch:
            return pruned
        after = step.last


# The client of a message's own bot: only the bot that sent a message may delete it.
Clients = Callable[[str | None], TelegramClient]


def delete_parts(
    rt: Runtime, clients: Clients, result: SweepResult, *, backup_id: uuid.UUID | None = None
) -> None:
    """deleteMessage for every unsettled part of an expired backup (or of the one expired
    `backup_id`: `backups forget`), batch by batch."""
    while True:
        with rt.database.transaction() as session:
            refs = db_expiry.claim_parts(session, limit=PART_BATCH, backup_id=backup_id)
        if not refs:
            return
        outcomes: list[db_expiry.PartOutcome] = []
        try:
            for ref in refs:
                outcomes.append(delete_one(clients, ref))
        except errors.TelegramUnauthorized:
            with rt.database.transaction() as session:
                db_expiry.settle_parts(session, outcomes)
                db_expiry.release_parts(session, refs[len(outcomes) :])
            raise
        finally:
            for outcome in outcomes:
                _count(result, outcome.status)
        with rt.database.transaction() as session:
            db_expiry.settle_parts(session, outcomes)
            done = db_expiry.finish_backups(session, (ref.backup_id for ref in refs))
        result.backups_deleted += len(done)


def delete_copies(rt: Runtime, clients: Clients, result: SweepResult) -> None:
    """deleteMessage for every further copy of an expired backup, as for its parts; a
    repository that refuses for good (401 included: a revoked bot) loses no other's deletes."""
    while True:
        with rt.database.transaction() as session:
            refs = db_copies.claim(session, limit=PART_BATCH)
        if not refs:
            return
        for ref in refs:
            try:
                status = delete_one(clients, ref.part).status
            except errors.TelegramUnauthorized as exc:
                log.warning("sweep: repository %s: %s", ref.repository, exc.message)
                status = PartStatus.UNDELETABLE.value
            if status == PartStatus.DELETED:
                result.copies_deleted += 1
            elif status is not None:
                result.copies_lost += 1
            with rt.database.transaction() as session:
                db_copies.settle(session, ref, status)


def delete_one(clients: Clients, ref: db_expiry.PartRef) -> db_expiry.PartOutcome:
    """Try to delete one part's message and say what became of it."""

    def outcome(status: str | None, error: str | None = None) -> db_expiry.PartOutcome:
        return db_expiry.PartOutcome(ref.backup_id, ref.index, status, error)

    try:
        clients(ref.bot_id).delete_message(ref.chat_id, ref.message_id)
    except errors.ConfigError as exc:
        # Its bot is no longer configured: kept for a later sweep, until the attempts run out.
        if ref.attempts >= MAX_DELETE_ATTEMPTS:
            return outcome(PartStatus.UNDELETABLE.value, f"gave up: {exc.message}")
        log.warning("sweep: part %d of backup %s: %s", ref.index, ref.backup_id, exc.message)
        return outcome(None, exc.message)
    except errors.TelegramUnauthorized:
        raise
    except errors.TelegramBadRequest as exc:
        if NOT_FOUND_TEXT in exc.message:
            return outcome(PartStatus.MISSING.value, exc.message)
        # "message can't be deleted" (older than 48 hours), chat gone, ...: final.
        return outcome(PartStatus.UNDELETABLE.value, exc.message)
    except errors.TelegramRejected as exc:
        return outcome(PartStatus.UNDELETABLE.value, exc.message)
    except errors.TelegramRetryable as exc:
        if ref.attempts >= MAX_DELETE_ATTEMPTS:
            return outcome(PartStatus.UNDELETABLE.value, f"gave up: {exc.message}")
        log.warning("sweep: part %d of backup %s: %s", ref.index, ref.backup_id, exc.message)
        return outcome(None, exc.message)
    return outcome(PartStatus.DELETED.value)


def _count(result: SweepResult, status: str | None) -> None:
    if status == PartStatus.DELETED:
        result.parts_deleted += 1
    elif status == PartStatus.MISSING:
        result.parts_missing += 1
    elif status == PartStatus.UNDELETABLE:
        result.parts_undeletable += 1
    else:
        result.parts_retry += 1
