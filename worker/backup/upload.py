"""Sending an artifact's parts to Telegram: the one path for backups and for send-only."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Container
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker import errors
from worker.artifact import growing as growing_part
from worker.artifact import manifest
from worker.backup import fanout, turns
from worker.contract import request
from worker.jobs import state
from worker.telegram import pacer as fleetpacer
from worker.telegram import sender as telegram

# A sent part as stored in the jobs row and printed by the CLI.
SentPartJSON = state.SentPart
# Telegram moved a chat (a group upgraded to a supergroup): (the id asked for, its new id).
Migration = tuple[str, int]
Sent = tuple[SentPartJSON, Migration | None]


@dataclass(frozen=True)
class Destination:
    """Where parts go and how their captions read."""

    chat_id: str
    thread_id: int | None
    project_id: str
    label: str  # the database name, or the file name for send-only
    caption: str | None = None
    # Every chat a part may go to (the pacer picks the first free); empty: chat_id alone.
    chats: tuple[str, ...] = ()

    @property
    def candidates(self) -> tuple[str, ...]:
        """The chats a part may go to."""
        return self.chats or (self.chat_id,)

    def migrated(self, old: str, new: str) -> Destination:
        """The destination after Telegram gave chat `old` the id `new`."""
        chats = tuple(new if chat == old else chat for chat in self.chats)
        return dataclasses.replace(self, chat_id=new, chats=chats)


def send_part(
    sender: telegram.Sender,
    part: manifest.PartFile,
    count: int | None,
    where: Destination,
    *,
    on_progress: Callable[[int], None] | None = None,
    on_wait: telegram.OnWait | None = None,
    max_wait: float | None = None,
    reserved: fleetpacer.Reservation | None = None,
    on_left: turns.Left | None = None,
) -> tuple[SentPartJSON, Migration | None]:
    """Send one part; returns it as stored, and the chat's move when Telegram moved the chat.

    `count` is the artifact's number of parts, None while the dump is still writing it.
    `on_left()` runs when the part's body has left (worker.backup.turns).
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
    paced = _document(
        sender,
        part.path,
        caption,
        where,
        on_progress=on_progress,
        on_wait=on_wait,
        max_wait=max_wait,
        reserved=reserved,
        on_left=on_left,
    )
    return _sent(part, paced)


def _document(
    sender: telegram.Sender, path: Path, caption: str, where: Destination, **options: Any
) -> telegram.Sent:
    """sendDocument of a part's file under its own name, into the destination's chats."""
    return sender.send_document(
        where.candidates,
        path,
        filename=path.name,
        caption=caption,
        thread_id=where.thread_id,
        **options,
    )


def _sent(part: manifest.PartFile, paced: telegram.Sent) -> tuple[SentPartJSON, Migration | None]:
    sent = paced.document
    record = SentPartJSON(
        index=part.index,
        file_id=sent.file_id,
        file_unique_id=sent.file_unique_id,
        message_id=sent.message_id,
        chat_id=str(sent.chat_id),
        size_bytes=part.size_bytes,
        sha256=part.sha256,
        bot_id=paced.bot_id,
    )
    moved = sent.migrated_to_chat_id
    return record, None if moved is None else (paced.chat_id, moved)


def send_growing(
    sender: telegram.Sender,
    growing: growing_part.Growing,
    where: Destination,
    *,
    on_wait: telegram.OnWait | None = None,
    on_left: turns.Left | None = None,
) -> tuple[SentPartJSON, Migration | None]:
    """Send the first part while the dump still writes it (worker.artifact.growing); returns
    it as stored, as send_part does. PartCut: it ended short (the last part) or stalled, and
    nothing was sent."""
    caption = request.part_caption(
        where.project_id, where.label, 0, None, growing.size, None, where.caption
    )
    paced = _document(
        sender, growing.path, caption, where, on_wait=on_wait, on_left=on_left, growing=growing
    )
    return _sent(growing.part(), paced)


def send_parts(
    sender: telegram.Sender,
    art: manifest.Artifact,
    where: Destination,
    *,
    skip: Container[int] = (),
    on_sent: Callable[[SentPartJSON, Migration | None], None],
    on_bytes: Callable[[int], None] | None = None,
    on_wait: telegram.OnWait | None = None,
    max_wait: float | None = None,
    reserved: fleetpacer.Reservation | None = None,
) -> None:
    """Send each part not in `skip`, in order; `on_sent(part, migration)` after each one.

    `max_wait` and `reserved` as for Sender.send_document; `reserved` serves the first part.

    `on_bytes(total sent so far)` reports progress over the whole artifact. When Telegram moves
    the chat (group upgraded to a supergroup), the following parts go to the new id. With
    several (bot, chat) pairs, parts go out at once over them (worker.backup.fanout).
    """
    done = sum(part.size_bytes for part in art.parts if part.index in skip)
    todo = [part for part in art.parts if part.index not in skip]
    for part in todo:
        if not part.path.is_file():
            raise errors.SpoolError(
                f"part {part.index + 1} of {len(art.parts)} is missing from the spool "
                f"({part.path.parent}): the backup must start over from the dump"
            )
    width = min(sender.width(where.candidates), len(todo), fanout.PARALLEL_LIMIT)
    # One pair: a slow link starts each part as the one before has left (worker.backup.turns).
    staggered = width == 1 and len(todo) > 1 and sender.overlaps(max(p.size_bytes for p in todo))
    if width > 1 or staggered:

        def one(
            part: manifest.PartFile,
            to: Destination,
            slot: fleetpacer.Reservation | None,
            left: turns.Left | None,
        ) -> Sent:
            return send_part(
                sender,
                part,
                len(art.parts),
                to,
                on_wait=on_wait,
                max_wait=max_wait,
                reserved=slot,
                on_left=left,
            )

        def counted(record: SentPartJSON, migrated: Migration | None) -> None:
            nonlocal done
            on_sent(record, migrated)
            done += record["size_bytes"]
            if on_bytes is not None:
                on_bytes(done)

        fanout.send(
            todo,
            where,
            2 if staggered else width,
            one,
            counted,
            sender.give_back,
            reserved,
            turns=turns.Turns() if staggered else None,
        )
        return
    for part in todo:

        def progress(sent_bytes: int, base: int = done) -> None:
            if on_bytes is not None:
                on_bytes(base + sent_bytes)

        record, migrated = send_part(
            sender,
            part,
            len(art.parts),
            where,
            on_progress=progress,
            on_wait=on_wait,
            max_wait=max_wait,
            reserved=reserved,
        )
        reserved = None
        if migrated is not None:
            where = where.migrated(migrated[0], str(migrated[1]))
        on_sent(record, migrated)
        done += part.size_bytes
        if on_bytes is not None:
            on_bytes(done)
