"""Sending an artifact's parts to Telegram: the one path for backups and for send-only."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Container
from dataclasses import dataclass

from worker import errors
from worker.artifact import manifest
from worker.contract import request
from worker.jobs import state
from worker.telegram import client as telegram

# A sent part as stored in the jobs row and printed by the CLI.
SentPartJSON = state.SentPart


@dataclass(frozen=True)
class Destination:
    """Where parts go and how their captions read."""

    chat_id: str
    thread_id: int | None
    project_id: str
    label: str  # the database name, or the file name for send-only
    caption: str | None = None


def send_part(
    client: telegram.TelegramClient,
    part: manifest.PartFile,
    count: int | None,
    where: Destination,
    *,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[SentPartJSON, int | None]:
    """Send one part; returns it as stored, and the chat's new id when Telegram moved the chat.

    `count` is the artifact's number of parts, None while the dump is still writing it.
    """
    caption = request.part_caption(
        where.project_id,
        where.label,
        part.index,
        count,
        part.size_bytes,
        part.sha256,
        where.caption,
    )
    sent = client.send_document(
        where.chat_id,
        part.path,
        filename=part.path.name,
        caption=caption,
        thread_id=where.thread_id,
        on_progress=on_progress,
    )
    record = SentPartJSON(
        index=part.index,
        file_id=sent.file_id,
        file_unique_id=sent.file_unique_id,
        message_id=sent.message_id,
        chat_id=str(sent.chat_id),
        size_bytes=part.size_bytes,
        sha256=part.sha256,
    )
    return record, sent.migrated_to_chat_id


def send_parts(
    client: telegram.TelegramClient,
    art: manifest.Artifact,
    where: Destination,
    *,
    skip: Container[int] = (),
    on_sent: Callable[[SentPartJSON, int | None], None],
    on_bytes: Callable[[int], None] | None = None,
) -> None:
    """Send each part not in `skip`, in order; `on_sent(part, migrated_chat)` after each one.

    `on_bytes(total sent so far)` reports progress over the whole artifact. When Telegram moves
    the chat (group upgraded to a supergroup), the following parts go to the new id.
    """
    done = sum(part.size_bytes for part in art.parts if part.index in skip)
    for part in art.parts:
        if part.index in skip:
            continue
        if not part.path.is_file():
            raise errors.SpoolError(
                f"part {part.index + 1} of {len(art.parts)} is missing from the spool "
                f"({part.path.parent}): the backup must start over from the dump"
            )

        def progress(sent_bytes: int, base: int = done) -> None:
            if on_bytes is not None:
                on_bytes(base + sent_bytes)

        record, migrated = send_part(client, part, len(art.parts), where, on_progress=progress)
        if migrated is not None:
            where = dataclasses.replace(where, chat_id=str(migrated))
        on_sent(record, migrated)
        done += part.size_bytes
        if on_bytes is not None:
            on_bytes(done)
