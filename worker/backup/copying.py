"""An artifact's parts sent to every copy (docs/fleet.md, "Copies"): a batch at a time.

Each batch (as many parts as one copy sends at once, worker.backup.fanout) goes to copy 0, then
to each further copy, before the next batch is taken: a part is read from the spool for each
copy in turn while it is still in the page cache, not once per copy after the whole artifact
went to the copy before; and a copy that fails is found at its first batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from worker import errors
from worker.artifact import manifest
from worker.backup import fanout, upload
from worker.telegram import pacer as fleetpacer
from worker.telegram import repositories

if TYPE_CHECKING:
    from worker.backup import sent as sent_parts
    from worker.telegram import sender as telegram

OnSent = Callable[[int, upload.SentPartJSON, upload.Migration | None], None]  # copy number first


@dataclass(frozen=True)
class Copy:
    """One copy's sent parts (its resume point and destination) and the sender of its bots."""

    sent: sent_parts.Sent
    sender: telegram.Sender


def send(
    copies: Sequence[Copy],
    art: manifest.Artifact,
    *,
    on_sent: OnSent,
    amounts: Callable[[int], None],
    max_wait: float | None,
    reserved: fleetpacer.Reservation | None,
) -> None:
    """Send each copy the parts it lacks, batch by batch; `amounts(bytes sent over every copy)`.

    A copy's Telegram error is raised naming the copy (when there are several); `reserved`
    serves the first part sent."""
    width = max(copy.sender.width(copy.sent.where.candidates) for copy in copies)
    width = max(1, min(width, fanout.PARALLEL_LIMIT))
    order = [part.index for part in art.parts]
    sizes = {part.index: part.size_bytes for part in art.parts}
    done = sum(sizes[int(index)] for copy in copies for index in copy.sent.parts)
    for start in range(0, len(order), width):
        batch = set(order[start : start + width])
        for number, copy in enumerate(copies):
            skip = (set(order) - batch) | {int(index) for index in copy.sent.parts}
            todo = batch - skip
            if not todo:
                continue
            # send_parts counts the skipped parts as sent: take them off its count.
            offset = done - sum(sizes[index] for index in skip)

            def on_bytes(count: int, offset: int = offset) -> None:
                amounts(offset + count)

            def sent_one(
                part: upload.SentPartJSON, migrated: upload.Migration | None, number: int = number
            ) -> None:
                on_sent(number, part, migrated)

            try:
                upload.send_parts(
                    copy.sender,
                    art,
                    copy.sent.where,
                    skip=skip,
                    on_sent=sent_one,
                    on_bytes=on_bytes,
                    on_wait=copy.sent.note_wait,
                    max_wait=max_wait,
                    reserved=reserved,
                )
            except errors.TelegramError as exc:
                if len(copies) > 1:
                    repo = copy.sent.repository or repositories.DEFAULT_REPOSITORY
                    exc.args = (f"copy {number + 1} of {len(copies)} (repository {repo}): {exc}",)
                raise
            reserved = None
            done += sum(sizes[index] for index in todo)
