"""Orphans in Telegram: part messages a job sent that no recorded backup holds.

A job that failed for good, or was handed back for a new attempt, or whose worker died, may
leave parts in the chat that nobody will ever restore from: the job deletes them itself when it
can, but Telegram may be down just then. The ledger (db.ledger) lists every part sent; once the
job no longer runs, each message is either held by a recorded backup (kept) or an orphan,
deleted while Telegram still allows it (48 hours) and counted either way.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass

from db import ledger
from worker import errors
from worker.jobs.runtime import Runtime
from worker.telegram.client import TelegramClient

# The client of a bot by id (None: the first configured bot), as Runtime.telegram gives it.
Clients = Callable[[str | None], TelegramClient]

log = logging.getLogger(__name__)

GRACE = dt.timedelta(minutes=5)  # a message this young may still be on its way to a record
DELETE_WINDOW = dt.timedelta(hours=48)  # Telegram's limit for a bot deleting its message
BATCH = 500  # messages settled per sweep


@dataclass
class OrphanResult:
    """What one orphan sweep did."""

    kept: int = 0
    deleted: int = 0
    undeletable: int = 0
    retry: int = 0

    def to_json(self) -> dict[str, int]:
        return asdict(self)


def sweep(
    rt: Runtime, clients: Clients, *, batch: int = BATCH, grace: dt.timedelta = GRACE
) -> OrphanResult:
    """Settle the ended jobs' sent messages: keep the recorded ones, delete the orphans.

    `grace` other than GRACE is for a run that knows every job has ended (the chaos run's
    final count of leftover messages): then no message can still be on its way to a record.
    """
    result = OrphanResult()
    with rt.database.transaction() as session:
        now = dt.datetime.now(dt.UTC)
        found = ledger.unsettled(session, sent_before=now - grace, limit=batch)
    settled: dict[ledger.SentState, list[int]] = {state: [] for state in ledger.SentState}
    for message in found:
        if message.kept:
            settled[ledger.SentState.KEPT].append(message.id)
        elif now - message.sent_at >= DELETE_WINDOW:
            settled[ledger.SentState.UNDELETABLE].append(message.id)
        else:
            state = _delete(clients, message)
            if state is None:
                result.retry += 1
            else:
                settled[state].append(message.id)
    with rt.database.transaction() as session:
        for state, ids in settled.items():
            ledger.settle(session, ids, state)
    result.kept = len(settled[ledger.SentState.KEPT])
    result.deleted = len(settled[ledger.SentState.DELETED])
    result.undeletable = len(settled[ledger.SentState.UNDELETABLE])
    if result.deleted or result.undeletable:
        log.warning("sweep: orphaned part messages %s", result.to_json())
    return result


def _delete(clients: Clients, message: ledger.Unsettled) -> ledger.SentState | None:
    """Delete one orphan with the bot that sent it; its final state, or None to try again."""
    try:
        clients(message.bot_id).delete_message(message.chat_id, message.message_id)
    except errors.ConfigError as exc:
        # Its bot's token is no longer configured: a later sweep may have it again.
        log.warning("sweep: orphan %s/%s: %s", message.chat_id, message.message_id, exc.message)
        return None
    except errors.TelegramUnauthorized:
        raise  # no message of this bot can be deleted: the sweep's caller says so
    except errors.TelegramBadRequest as exc:
        # "message to delete not found" is what the job's own delete left: deleted all the same.
        if "not found" in exc.message:
            return ledger.SentState.DELETED
        return ledger.SentState.UNDELETABLE
    except errors.TelegramRejected:
        return ledger.SentState.UNDELETABLE
    except errors.TelegramRetryable as exc:
        log.warning("sweep: orphan %s/%s: %s", message.chat_id, message.message_id, exc.message)
        return None
    return ledger.SentState.DELETED
