"""`copies repair`: re-create every missing copy in one repository from another (issue 25).

Each part of an active backup that has a copy in the repository read from and none in the one
repaired is downloaded, checked against its SHA-256, sent through the repaired repository's
bots (paced like every send) and recorded as that part's next copy at once, in the same
transaction as its line in the sent-messages ledger (db.ledger, under the backup's job): a run
that stops is resumed by running it again, which finds only what is still missing, and a copy
that nothing holds any more is an orphan the sweep deletes.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from db import ledger
from db.queries import copies as db_copies
from worker import errors
from worker.artifact import manifest
from worker.backup import upload
from worker.jobs import owner, retry
from worker.jobs.runtime import Runtime
from worker.telegram import repositories

if TYPE_CHECKING:
    from worker.telegram import sender as fleetsender


@dataclass
class Repaired:
    """What one run did."""

    created: int = 0
    failed: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"created": self.created, "failed": list(self.failed)}


def repair(
    rt: Runtime,
    source: str,
    target: str,
    *,
    on_part: Callable[[int, int, db_copies.Missing], None] | None = None,
) -> Repaired:
    """Copy every part missing in `target` from `source`; `on_part(done, total, part)` after
    each. A part whose copy in `source` is gone or damaged is listed in `failed`, not fatal."""
    repos = rt.repositories()
    if source == target:
        raise errors.InputError("--from and --to name the same repository")
    repos.get(source)
    into = repos.get(target)
    if target == repositories.DEFAULT_REPOSITORY:
        raise errors.InputError(
            "copy 0 lives in the repository default (TELEGRAM_BOT_TOKEN): repair into another"
        )
    with rt.database.transaction() as session:
        todo = db_copies.missing(
            session, source=source, target=target, default=repositories.DEFAULT_REPOSITORY
        )
    done = Repaired()
    sender = rt.sender(into)
    rt.settings.backup_spool_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="repair-", dir=rt.settings.backup_spool_dir) as tmp:
        for number, part in enumerate(todo, start=1):
            try:
                _one(rt, sender, into, part, Path(tmp) / f"part-{part.index + 1:03d}")
                done.created += 1
            except (errors.TelegramRejected, errors.IntegrityError, errors.ConfigError) as exc:
                done.failed.append(f"backup {part.backup_id} part {part.index + 1}: {exc}")
            if on_part is not None:
                on_part(number, len(todo), part)
    return done


def _one(
    rt: Runtime,
    sender: fleetsender.Sender,
    into: repositories.Repository,
    part: db_copies.Missing,
    path: Path,
) -> None:
    read(rt, part, path)
    store(rt, sender, into, part, path)
    path.unlink()


def read(rt: Runtime, part: db_copies.Missing, path: Path) -> None:
    """Download `part` from the copy it names into `path`; IntegrityError when it is not the
    part recorded."""
    with path.open("wb") as sink:
        rt.telegram(part.bot_id).download_file(part.file_id, sink, size=part.size_bytes)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != part.sha256:
        raise errors.IntegrityError(
            f"its SHA-256 is {digest[:16]}..., {part.sha256[:16]}... recorded"
        )


def store(
    rt: Runtime,
    sender: fleetsender.Sender,
    into: repositories.Repository,
    part: db_copies.Missing,
    path: Path,
) -> None:
    """Send the part read into `path` into `into`, paced, and record it as its next copy."""
    where = upload.Destination(
        chat_id=into.chat_ids[0],
        chats=into.chat_ids,
        thread_id=into.thread_id,
        project_id=part.project_id,
        label=part.label,
    )
    piece = manifest.PartFile(part.index, path, part.size_bytes, part.sha256)
    sent, _ = upload.send_part(sender, piece, part.part_count, where)
    try:
        with rt.database.transaction() as session:
            db_copies.add(
                session,
                part,
                repository=into.name,
                file_id=sent["file_id"],
                file_unique_id=sent["file_unique_id"],
                message_id=sent["message_id"],
                chat_id=sent["chat_id"],
                bot_id=sent.get("bot_id"),
            )
            if part.job_id is not None:
                # As an upload's parts: a copy no backup holds any more is an orphan the
                # sweep (worker.scheduling.orphans) finds through its backup's ended job.
                ledger.record(
                    session, part.job_id, sent["chat_id"], sent["message_id"], sent.get("bot_id")
                )
    except retry.CONTROL_PLANE_LOST:
        # Sent but written nowhere: deleted now, while Telegram answers; the next run sends
        # it anew.
        owner.delete_sent_parts(rt, {"unrecorded": sent})
        raise
