"""Rebuild backups and backup_parts from the catalog pinned in a chat, once authenticated.

getChat → pinned_message (the head): sent by one of this worker's bots, its MAC right with a key
of CATALOG_KEY, published for this chat → the head's parts, downloaded and checked like a
backup's (worker.restore.fetch) → age, zstd → the document, its own MAC right → the rows,
inserted into an empty control-plane database. Any step that fails inserts nothing.
"""

from __future__ import annotations

import dataclasses
import io
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import func, select

from db import models
from db import session as db_session
from db.queries import catalog as records
from worker import errors
from worker.artifact import unpack
from worker.catalog import document, sign
from worker.catalog.head import MAX_BYTES, Head
from worker.restore import fetch
from worker.telegram import client as telegram
from worker.telegram import pins

Clients = Callable[[str], telegram.TelegramClient]  # a bot's id → its client


@dataclasses.dataclass(frozen=True)
class Recovered:
    """What a recovery inserted."""

    chat_id: str
    fingerprint: str
    backups: int
    parts: int

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Trust:
    """What a catalog must satisfy: signed with one of `keys`, pinned by one of `bots` (or,
    with `channel_posts`, posted as the channel itself), encrypted when `recipients` are set."""

    keys: sign.Keys
    bots: Sequence[str]
    recipients: Sequence[str] = ()
    channel_posts: bool = False


def _pinned_head(
    client: telegram.TelegramClient, chat_id: str, trust: Trust
) -> tuple[pins.Pinned, str | None]:
    """The pinned head and the bot of ours that sent it (None: a channel post, allowed)."""
    pinned = pins.pinned(client, chat_id)
    if pinned is None or pinned.document is None:
        raise errors.NotFoundError(f"chat {chat_id} has no pinned document: no catalog to read")
    where = f"the pinned message {pinned.message_id} in chat {chat_id}"
    size = pinned.document.file_size
    if size is None or size > MAX_BYTES:
        raise errors.InputError(f"{where} is not a catalog head ({size} bytes)")
    if pinned.sender_id is None and pinned.sender_chat_id is not None:
        # A channel's posts carry no `from`: any of its admins may post as the channel.
        if not trust.channel_posts:
            raise errors.InputError(
                f"{where} was posted as a channel, with no sender to check: refusing it; if "
                "only the channel's admins can post there, pass --channel-post to rely on the "
                "catalog's signature alone"
            )
        if not chat_id.startswith("@") and str(pinned.sender_chat_id) != chat_id:
            raise errors.InputError(f"{where} was posted as chat {pinned.sender_chat_id}")
        return pinned, None
    sender = str(pinned.sender_id)
    if not pinned.sender_is_bot or sender not in trust.bots:
        raise errors.InputError(
            f"{where} was not sent by one of this worker's bots (sender {sender}): refusing "
            "to read it as the catalog"
        )
    return pinned, sender


def read_catalog(
    clients: Clients,
    chat_id: str,
    *,
    trust: Trust,
    spool_dir: Path,
    identities: Sequence[object] | None,
) -> tuple[pins.Pinned, Head, document.Row]:
    """The pinned message, its head and the catalog in `chat_id`, each authenticated;
    NotFoundError when nothing is pinned, InputError when what is cannot be believed."""
    if not trust.bots:
        raise errors.ConfigError("TELEGRAM_BOT_TOKEN is not set: no bot to read the chat with")
    pinned, sender = _pinned_head(clients(trust.bots[0]), chat_id, trust)
    # A file id downloads with the bot that received it: the head's sender, one of ours.
    client = clients(sender or trust.bots[0])
    assert pinned.document is not None
    sink = io.BytesIO()
    client.download_file(pinned.document.file_id, sink)
    head = Head.loads(sink.getvalue(), trust.keys)
    if head.chat_id != str(chat_id):
        raise errors.InputError(f"the pinned catalog was published for chat {head.chat_id}")
    if trust.recipients and not head.encrypted:
        raise errors.InputError(
            "the pinned catalog is not encrypted, but BACKUP_AGE_RECIPIENTS is set: refusing "
            "it (whoever could forge it could also read it)"
        )
    if head.encrypted and identities is None:
        raise errors.ConfigError(
            "the catalog is encrypted: set BACKUP_AGE_IDENTITY_FILE to a recipient's key"
        )
    spool_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="catalog-", dir=spool_dir) as work:
        path = Path(work) / "catalog"
        fetch.fetch(lambda _bot: client, head.remote(), path)
        out = io.BytesIO()
        unpack.decode(
            path,
            out,
            compression=head.compression,
            identities=identities if head.encrypted else None,
            recipients=head.recipients,
        )
    head.verify_document(trust.keys, out.getvalue())
    return pinned, head, document.loads(out.getvalue())


def recover(
    clients: Clients,
    database: db_session.Database,
    chat_id: str,
    *,
    trust: Trust,
    spool_dir: Path,
    identities: Sequence[object] | None,
) -> Recovered:
    """Insert the pinned catalog's rows; InputError when the database already has backups."""
    with database.sessionmaker() as session:
        present = session.scalars(select(func.count()).select_from(models.Backup)).one()
    if present:
        raise errors.InputError(
            f"the control-plane database already has {present} backups: recover into an "
            "empty one (backup-worker migrate on a new database)"
        )
    pinned, head, catalog = read_catalog(
        clients, chat_id, trust=trust, spool_dir=spool_dir, identities=identities
    )
    with database.transaction() as session:
        backups, parts = document.restore_rows(session, catalog)
        # A head one of our bots sent (its sender and its MAC say so) is the next publish's
        # to delete; a channel post is nobody's. The parts' message ids would come from the
        # chat: never recorded, they stay.
        if pinned.sender_id is not None and pinned.sender_chat_id is None:
            sender = str(pinned.sender_id)
            records.record(
                session, chat_id, sender, head.fingerprint, [], pinned.message_id, current=False
            )
    return Recovered(chat_id, head.fingerprint, backups, parts)
