"""Send the catalog to a chat, signed, and pin it; delete the catalog it replaces.

Run by the beat task catalog.publish every CATALOG_INTERVAL (so at most one catalog per chat
per interval, however many backups were recorded meanwhile), and by `backup-worker catalog
publish`. Nothing is sent when the chat's recorded catalog is current and still the one pinned.

The chat is untrusted: which messages are the catalog's comes from the control plane
(db.queries.catalog), recorded as they are sent; nothing read from the chat (a pinned document,
a head's list) ever names a message to delete. Without CATALOG_KEY nothing is published.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from db import session as db_session
from db.queries import catalog as records
from worker import errors
from worker.artifact import stream
from worker.catalog import document, sign
from worker.catalog.head import NAME_PREFIX, Head
from worker.jobs import runtime
from worker.telegram import client as telegram
from worker.telegram import pins, repositories, results
from worker.telegram import sender as fleetsender

_log = logging.getLogger(__name__)
NO_KEY = "CATALOG_KEY is not set: the catalog is not published (an unsigned one could be forged)"
_warned: list[bool] = []  # the warning without a key, once per process, not every interval


@dataclasses.dataclass(frozen=True)
class Published:
    """What one publish did in one chat."""

    chat_id: str
    fingerprint: str
    backups: int
    sent: bool  # False: the pinned catalog was already this one
    head_message_id: int | None
    parts: int
    removed: int  # messages of the previous catalog deleted

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)


# Sends one document into a chat (chat, path, caption): the fleet's paced sender in the worker.
SendDocument = Callable[[str, Path, str], results.SentDocument]


def publish(
    client: telegram.TelegramClient,
    database: db_session.Database,
    chat_id: str,
    *,
    keys: sign.Keys,
    bot_id: str,
    spool_dir: Path,
    part_size: int,
    recipients: Sequence[str] = (),
    thread_id: int | None = None,
    send: SendDocument | None = None,
) -> Published:
    """Publish the current catalog in `chat_id` unless it is there and pinned already.

    Every message goes through `send` (default: `client` itself, unpaced); `client` reads and
    pins, and must be the bot `send` sends with (`bot_id`): a file id downloads only with its
    own bot, and only its own messages are its to delete.
    """

    def unpaced(chat: str, path: Path, caption: str) -> results.SentDocument:
        return client.send_document(chat, path, caption=caption, thread_id=thread_id)

    send = send or unpaced
    with database.sessionmaker() as session:
        catalog = document.build(session)
        current = records.current_head(session, chat_id)
    data = document.dumps(catalog)
    fingerprint = document.fingerprint(catalog)
    signer, mac = keys.sign(sign.DOCUMENT, data)
    recorded = f"{fingerprint}:{signer}"  # a new signing key is a change: rotation re-signs
    count = len(catalog["backups"])  # type: ignore[arg-type]
    shown = pins.pinned(client, chat_id)
    if (
        current is not None
        and current.fingerprint == recorded
        and shown is not None
        and shown.message_id == current.message_id
    ):
        return Published(chat_id, fingerprint, count, False, current.message_id, 0, 0)
    spool_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="catalog-", dir=spool_dir))
    sent: list[results.SentDocument] = []
    try:
        suffix = ".json.zst" + (".age" if recipients else "")
        artifact = stream.write_artifact(
            io.BytesIO(data),
            work,
            f"catalog-{fingerprint}{suffix}",
            part_size=part_size,
            recipients=recipients,
        )
        for part in artifact.parts:
            caption = f"backup-worker catalog {fingerprint}, part {part.index + 1}"
            sent.append(send(chat_id, part.path, f"{caption} of {len(artifact.parts)}"))
        head = Head.of(chat_id, fingerprint, count, artifact, sent, (signer, mac))
        head_path = work / f"{NAME_PREFIX}{fingerprint}.json"
        head_path.write_bytes(head.dumps(keys))
        pinned = send(
            chat_id,
            head_path,
            f"backup-worker catalog: {count} backups. Recover the control-plane "
            f"database with: backup-worker catalog recover --chat {chat_id}",
        )
    except BaseException:
        if sent:  # parts sent for nothing: recorded, so the next publish deletes them
            with database.transaction() as session:
                ids = [doc.message_id for doc in sent]
                records.record(session, chat_id, bot_id, recorded, ids, None, current=False)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    with database.transaction() as session:
        ids = [doc.message_id for doc in sent]
        records.record(session, chat_id, bot_id, recorded, ids, pinned.message_id, current=True)
    pins.pin(client, chat_id, pinned.message_id)
    removed = _drop(client, database, chat_id, bot_id)
    return Published(chat_id, fingerprint, count, True, pinned.message_id, len(sent), removed)


def publish_all(rt: runtime.Runtime) -> dict[str, object]:
    """Publish in every backup chat of the settings; a chat that fails does not stop the rest."""
    if not rt.settings.telegram_configured:
        return {"status": "skipped", "reason": "TELEGRAM_BOT_TOKEN or TELEGRAM_CHAT_ID not set"}
    config = rt.settings
    if not config.catalog_keys:
        if not _warned:
            _log.warning("catalog: %s; set it to a secret of 32 bytes or more", NO_KEY)
            _warned.append(True)
        return {"status": "skipped", "reason": NO_KEY}
    keys = sign.Keys.of(config.catalog_keys)
    done: list[dict[str, object]] = []
    # The first bot publishes everywhere (and `catalog recover` reads with it), paced like
    # every other message; each chat that gets parts gets its catalog, retired ones included:
    # their old parts still restore.
    # The other repositories' chats get it from their own first bot: whichever repository is
    # left, its chats hold a catalog naming every copy (docs/fleet.md, "Copies").
    places = [(rt.bots()[0], chat, config.telegram_thread_id) for chat in config.telegram_chat_ids]
    if config.telegram_repositories_file is not None:
        for repo in rt.repositories():
            if repo.name != repositories.DEFAULT_REPOSITORY:  # TELEGRAM_CHAT_ID's, above
                places += [(repo.bot_ids[0], chat, repo.thread_id) for chat in repo.chat_ids]
    for bot, chat_id, thread_id in places:
        paced = fleetsender.Sender(
            rt.telegram, bots=(bot,), pacer=rt.pacer(), max_attempts=config.telegram_max_attempts
        )

        def send(
            chat: str,
            path: Path,
            caption: str,
            paced: fleetsender.Sender = paced,
            thread_id: int | None = thread_id,
        ) -> results.SentDocument:
            return paced.send_document((chat,), path, caption=caption, thread_id=thread_id).document

        try:
            published = publish(
                rt.telegram(bot),
                rt.database,
                chat_id,
                keys=keys,
                bot_id=bot,
                spool_dir=config.backup_spool_dir,
                part_size=config.backup_part_size,
                recipients=config.backup_age_recipients,
                thread_id=thread_id,
                send=send,
            )
        except errors.BackupWorkerError as exc:
            _log.error("catalog: cannot publish in chat %s: %s", chat_id, exc)
            done.append({"chat_id": chat_id, "error": exc.message})
        else:
            done.append(published.to_json())
    return {"status": "ok", "chats": done}


def _drop(
    client: telegram.TelegramClient, database: db_session.Database, chat_id: str, bot_id: str
) -> int:
    """Unpin and delete the replaced catalog messages this bot recorded sending; what cannot be
    deleted stays (recorded so). Nothing else in the chat is touched."""
    with database.sessionmaker() as session:
        old = [
            (row.id, row.message_id, row.kind)
            for row in records.superseded(session, chat_id, bot_id)
        ]
    removed = 0
    for row_id, message_id, kind in old:
        if kind == records.Kind.HEAD.value:
            pins.unpin(client, chat_id, message_id)
        state = records.State.DELETED
        try:
            removed += bool(client.delete_message(chat_id, message_id))
        except errors.TelegramBadRequest as exc:  # older than 48 hours, or gone already
            _log.info("catalog: message %d in chat %s stays: %s", message_id, chat_id, exc)
            state = records.State.UNDELETABLE if "can't be deleted" in exc.message else state
        with database.transaction() as session:
            records.settle(session, row_id, state)
    return removed
