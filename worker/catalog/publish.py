"""Send the catalog to a chat and pin it; drop the catalog it replaces.

Run by the beat task catalog.publish every CATALOG_INTERVAL (so at most one catalog per chat
per interval, however many backups were recorded meanwhile), and by `backup-worker catalog
publish`. Nothing is sent when the pinned head already carries the current fingerprint.
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
from worker import errors
from worker.artifact import stream
from worker.catalog import document
from worker.catalog.head import NAME_PREFIX, Head
from worker.jobs import runtime
from worker.telegram import client as telegram
from worker.telegram import pins, results
from worker.telegram import sender as fleetsender

_log = logging.getLogger(__name__)


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
    spool_dir: Path,
    part_size: int,
    recipients: Sequence[str] = (),
    thread_id: int | None = None,
    send: SendDocument | None = None,
) -> Published:
    """Publish the current catalog in `chat_id` unless it is pinned there already.

    Every message goes through `send` (default: `client` itself, unpaced); `client` reads and
    pins, and must be the bot `send` sends with: a file id downloads only with its own bot.
    """

    def unpaced(chat: str, path: Path, caption: str) -> results.SentDocument:
        return client.send_document(chat, path, caption=caption, thread_id=thread_id)

    send = send or unpaced
    with database.sessionmaker() as session:
        catalog = document.build(session)
    fingerprint = document.fingerprint(catalog)
    count = len(catalog["backups"])  # type: ignore[arg-type]
    previous = pins.pinned_document(client, chat_id)
    if previous is not None and previous.file_name == f"{NAME_PREFIX}{fingerprint}.json":
        return Published(chat_id, fingerprint, count, False, previous.message_id, 0, 0)
    spool_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="catalog-", dir=spool_dir))
    try:
        suffix = ".json.zst" + (".age" if recipients else "")
        artifact = stream.write_artifact(
            io.BytesIO(document.dumps(catalog)),
            work,
            f"catalog-{fingerprint}{suffix}",
            part_size=part_size,
            recipients=recipients,
        )
        sent = [
            send(
                chat_id,
                part.path,
                f"backup-worker catalog {fingerprint}, part {part.index + 1}"
                f" of {len(artifact.parts)}",
            )
            for part in artifact.parts
        ]
        head = Head.of(fingerprint, count, artifact, sent)
        head_path = work / f"{NAME_PREFIX}{fingerprint}.json"
        head_path.write_bytes(head.dumps())
        pinned = send(
            chat_id,
            head_path,
            f"backup-worker catalog: {count} backups. Recover the control-plane "
            f"database with: backup-worker catalog recover --chat {chat_id}",
        )
        pins.pin(client, chat_id, pinned.message_id)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    removed = 0
    if previous is not None and (previous.file_name or "").startswith(NAME_PREFIX):
        removed = _drop(client, chat_id, previous)  # never someone else's pinned document
    return Published(chat_id, fingerprint, count, True, pinned.message_id, len(sent), removed)


def publish_all(rt: runtime.Runtime) -> dict[str, object]:
    """Publish in every backup chat of the settings; a chat that fails does not stop the rest."""
    if not rt.settings.telegram_configured:
        return {"status": "skipped", "reason": "TELEGRAM_BOT_TOKEN or TELEGRAM_CHAT_ID not set"}
    config = rt.settings
    done: list[dict[str, object]] = []
    # The first bot publishes everywhere (and `catalog recover` reads with it), paced like
    # every other message; each chat that gets parts gets its catalog, retired ones included:
    # their old parts still restore.
    bot = rt.bots()[0]
    paced = fleetsender.Sender(
        rt.telegram, bots=(bot,), pacer=rt.pacer(), max_attempts=config.telegram_max_attempts
    )

    def send(chat: str, path: Path, caption: str) -> results.SentDocument:
        return paced.send_document(
            (chat,), path, caption=caption, thread_id=config.telegram_thread_id
        ).document

    for chat_id in config.telegram_chat_ids:
        try:
            published = publish(
                rt.telegram(bot),
                rt.database,
                chat_id,
                spool_dir=config.backup_spool_dir,
                part_size=config.backup_part_size,
                recipients=config.backup_age_recipients,
                thread_id=config.telegram_thread_id,
                send=send,
            )
        except errors.BackupWorkerError as exc:
            _log.error("catalog: cannot publish in chat %s: %s", chat_id, exc)
            done.append({"chat_id": chat_id, "error": exc.message})
        else:
            done.append(published.to_json())
    return {"status": "ok", "chats": done}


def _drop(client: telegram.TelegramClient, chat_id: str, previous: results.SentDocument) -> int:
    """Unpin the previous head and delete it and its parts; what cannot be deleted stays."""
    pins.unpin(client, chat_id, previous.message_id)
    ids = [previous.message_id]
    try:
        sink = io.BytesIO()
        client.download_file(previous.file_id, sink)
        ids += list(Head.loads(sink.getvalue()).message_ids)
    except errors.BackupWorkerError as exc:
        _log.warning("catalog: cannot read the previous head in chat %s: %s", chat_id, exc)
    removed = 0
    for old in ids:
        try:
            removed += bool(client.delete_message(chat_id, old))
        except errors.TelegramRejected as exc:  # older than 48 hours, or gone already
            _log.info("catalog: message %d in chat %s stays: %s", old, chat_id, exc)
    return removed
