"""Rebuild backups and backup_parts from the catalog pinned in a chat.

getChat → pinned_message (the head) → the head's parts, downloaded and checked like a backup's
(worker.restore.fetch) → age, zstd → the rows, inserted into an empty control-plane database.
"""

from __future__ import annotations

import dataclasses
import io
import tempfile
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import func, select

from db import models
from db import session as db_session
from worker import errors
from worker.artifact import unpack
from worker.catalog import document
from worker.catalog.head import Head
from worker.restore import fetch
from worker.telegram import client as telegram
from worker.telegram import pins


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


def read_catalog(
    client: telegram.TelegramClient,
    chat_id: str,
    *,
    spool_dir: Path,
    identities: Sequence[object] | None,
) -> tuple[Head, document.Row]:
    """The head and the catalog pinned in `chat_id`; NotFoundError when nothing is pinned."""
    pinned = pins.pinned_document(client, chat_id)
    if pinned is None:
        raise errors.NotFoundError(f"chat {chat_id} has no pinned document: no catalog to read")
    sink = io.BytesIO()
    client.download_file(pinned.file_id, sink)
    head = Head.loads(sink.getvalue())
    if head.encrypted and identities is None:
        raise errors.ConfigError(
            "the catalog is encrypted: set BACKUP_AGE_IDENTITY_FILE to a recipient's key"
        )
    spool_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="catalog-", dir=spool_dir) as work:
        path = Path(work) / "catalog"
        # The catalog's parts were sent by the bot that pinned it: this client's.
        fetch.fetch(lambda _bot: client, head.remote(), path)
        out = io.BytesIO()
        unpack.decode(
            path,
            out,
            compression=head.compression,
            identities=identities if head.encrypted else None,
            recipients=head.recipients,
        )
    return head, document.loads(out.getvalue())


def recover(
    client: telegram.TelegramClient,
    database: db_session.Database,
    chat_id: str,
    *,
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
    head, catalog = read_catalog(client, chat_id, spool_dir=spool_dir, identities=identities)
    with database.transaction() as session:
        backups, parts = document.restore_rows(session, catalog)
    return Recovered(chat_id, head.fingerprint, backups, parts)
