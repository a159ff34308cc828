"""Downloading a backup's parts from Telegram into one local artifact file, checking each one.

Parts are written one after the other into a single file, so that the artifact can be read as
one stream afterwards. Each part's size and SHA-256 are computed while it is written and
compared with the record, then the whole artifact's SHA-256. Nothing downstream (decryption,
pg_restore) ever sees bytes that failed a check. Memory stays at one download chunk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from db import models
from worker import errors
from worker.telegram import client as telegram

READ_CHUNK = 1 << 20  # bytes per read when re-checking parts already on disk


@dataclass(frozen=True)
class RemotePart:
    """One part of a backup as recorded: where it is in Telegram and what it must hash to."""

    index: int  # 0-based; messages say index + 1
    file_id: str
    size_bytes: int
    sha256: str
    bot_id: str | None = None  # the bot that uploaded it; None: the first configured bot


@dataclass(frozen=True)
class RemoteArtifact:
    """A backup's artifact as recorded: its parts in order, its size and checksum."""

    label: str  # "backup <id>", for messages
    size_bytes: int
    sha256: str
    parts: tuple[RemotePart, ...]

    @classmethod
    def from_backup(cls, row: models.Backup) -> RemoteArtifact:
        """The artifact of a backups row whose parts are loaded."""
        parts = tuple(
            RemotePart(part.index, part.file_id, part.size_bytes, part.sha256, part.bot_id)
            for part in row.parts
        )
        if [part.index for part in parts] != list(range(row.part_count)):
            raise errors.IntegrityError(
                f"backup {row.id} records {row.part_count} part(s) but has parts "
                f"{[part.index + 1 for part in parts]}: the record is incomplete"
            )
        return cls(f"backup {row.id}", row.size_bytes, row.sha256, parts)

    def describe(self, part: RemotePart) -> str:
        """`part 2 of 3`: 1-based, as operators count."""
        return f"part {part.index + 1} of {len(self.parts)}"

    def offset(self, index: int) -> int:
        """Where part `index` starts in the joined artifact."""
        return sum(part.size_bytes for part in self.parts[:index])


# The client of a part's own bot (a file_id downloads only with the bot that uploaded it).
Clients = Callable[[str | None], telegram.TelegramClient]


def fetch(
    clients: Clients,
    artifact: RemoteArtifact,
    path: Path,
    *,
    keep_going: bool = False,
    on_bytes: Callable[[int], None] | None = None,
) -> None:
    """Download every part into `path` and check it; IntegrityError naming each bad part.

    Parts already in `path` from an earlier attempt are re-hashed and kept when they match, so a
    redelivered step downloads only what is missing. With `keep_going`, every part is checked
    and all problems are reported together (verify); otherwise the first one stops (restore).
    Network errors that outlive the client's retries propagate unchanged.
    """
    problems: list[str] = []
    with path.open("r+b") if path.exists() else path.open("w+b") as file:
        whole, start = _kept_prefix(file, artifact)
        if on_bytes is not None:
            on_bytes(artifact.offset(start))
        for part in artifact.parts[start:]:
            base = artifact.offset(part.index)
            file.seek(base)
            file.truncate()
            sink = _HashingSink(file, whole)
            report = None if on_bytes is None else _shifted(on_bytes, base)
            problem = _download(clients(part.bot_id), artifact, part, sink, report)
            if problem is None:
                whole = sink.whole
            else:
                problems.append(problem)
                if not keep_going:
                    break
        if not problems:
            file.truncate(artifact.size_bytes)  # a kept file may be longer than the artifact
    if problems:
        raise errors.IntegrityError(_summary(artifact, problems))
    if whole.hexdigest() != artifact.sha256:
        raise errors.IntegrityError(
            f"{artifact.label}: every part matches its own SHA-256 but the joined artifact "
            f"does not match the recorded {artifact.sha256[:16]}...: the record is inconsistent"
        )


def _download(
    client: telegram.TelegramClient,
    artifact: RemoteArtifact,
    part: RemotePart,
    sink: _HashingSink,
    on_progress: Callable[[int], None] | None,
) -> str | None:
    name = artifact.describe(part)
    try:
        client.download_file(part.file_id, cast(BinaryIO, sink), on_progress=on_progress)
    except (errors.TelegramBadRequest, errors.TelegramNotFound, errors.TelegramForbidden) as exc:
        # The file itself is refused (gone, wrong id, too big for this API): a verdict on
        # the part. 401 and network errors say nothing about the backup: they propagate.
        return f"{name} cannot be downloaded ({exc.message})"
    if sink.size != part.size_bytes:
        return f"{name} has {sink.size} bytes, {part.size_bytes} recorded"
    digest = sink.part.hexdigest()
    if digest != part.sha256:
        return (
            f"{name} is corrupted: its SHA-256 is {digest[:16]}..., {part.sha256[:16]}... recorded"
        )
    return None


def _summary(artifact: RemoteArtifact, problems: Sequence[str]) -> str:
    return f"{artifact.label} failed its checks: " + "; ".join(problems)


def _kept_prefix(file: BinaryIO, artifact: RemoteArtifact) -> tuple[hashlib._Hash, int]:
    """The whole-artifact hash over the leading parts already on disk and intact, and how many."""
    whole = hashlib.sha256()
    for part in artifact.parts:
        file.seek(artifact.offset(part.index))
        digest, candidate = hashlib.sha256(), whole.copy()
        left = part.size_bytes
        while left > 0:
            chunk = file.read(min(READ_CHUNK, left))
            if not chunk:
                break
            digest.update(chunk)
            candidate.update(chunk)
            left -= len(chunk)
        if left > 0 or digest.hexdigest() != part.sha256:
            return whole, part.index
        whole = candidate
    return whole, len(artifact.parts)


def _shifted(report: Callable[[int], None], base: int) -> Callable[[int], None]:
    return lambda done: report(base + done)


class _HashingSink:
    """The file seen from one part's start: hashes what is written, forgets it on a retry.

    TelegramClient.download seeks back to the start and truncates before each attempt; the
    hashes restart there too.
    """

    def __init__(self, file: BinaryIO, whole: hashlib._Hash) -> None:
        self._file = file
        self._base = whole
        self._start = file.tell()
        self._reset()

    def _reset(self) -> None:
        self.part = hashlib.sha256()
        self.whole = self._base.copy()
        self.size = 0

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._file.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence != 0 or offset != self._start:
            raise errors.InputError("a part download may only seek back to its start")
        self._reset()
        return self._file.seek(offset)

    def truncate(self, size: int | None = None) -> int:
        return self._file.truncate(size)

    def write(self, data: bytes) -> int:
        self.part.update(data)
        self.whole.update(data)
        self.size += len(data)
        return self._file.write(data)
