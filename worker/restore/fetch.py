"""Downloading a backup's parts from Telegram into one local artifact file, checking each one.

Parts are downloaded a few at once, each written at its own offset of a single file, so that the
artifact can be read as one stream afterwards. Each part's size and SHA-256 are computed while it
is written and compared with the record; the whole artifact's SHA-256 is computed by reading the
file in order, by a consumer while the download goes on (worker.restore.ordered) or after it.
Nothing downstream (decryption, pg_restore) ever sees bytes of a part that failed its check.
Memory stays at one download chunk per download thread.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from db import models
from worker import errors
from worker.jobs import spool
from worker.restore import ordered, stagger
from worker.telegram import client as telegram

DEFAULT_REPOSITORY = "default"  # copy 0's: worker.telegram.repositories.DEFAULT_REPOSITORY
READ_CHUNK = 1 << 20  # bytes per read when re-checking parts on disk, or the whole file
DOWNLOAD_THREADS = 4  # parts downloaded at once (RESTORE_DOWNLOAD_THREADS)
_PART_REFUSED = (
    errors.TelegramBadRequest,
    errors.TelegramNotFound,
    errors.TelegramForbidden,
    errors.TelegramDownloadRefused,
    errors.TelegramDownloadTimeout,
)


@dataclass(frozen=True)
class Copy:
    """A further copy of a part (BACKUP_COPIES): its file id, bot and repository."""

    file_id: str
    bot_id: str | None
    repository: str


@dataclass(frozen=True)
class RemotePart:
    """One part of a backup as recorded: where it is in Telegram and what it must hash to."""

    index: int  # 0-based; messages say index + 1
    file_id: str
    size_bytes: int
    sha256: str
    bot_id: str | None = None  # the bot that uploaded it; None: the first configured bot
    # Copies 1, 2, ..., read in order when copy 0 is gone (docs/fleet.md, "Copies").
    copies: tuple[Copy, ...] = ()

    @property
    def sources(self) -> tuple[Copy, ...]:
        """Every copy of the part, copy 0 first (its repository: the one of TELEGRAM_BOT_TOKEN)."""
        return (Copy(self.file_id, self.bot_id, DEFAULT_REPOSITORY), *self.copies)


@dataclass(frozen=True)
class RemoteArtifact:
    """A backup's artifact as recorded: its parts in order, its size and checksum."""

    label: str  # "backup <id>", for messages
    size_bytes: int
    sha256: str
    parts: tuple[RemotePart, ...]

    @classmethod
    def from_backup(
        cls, row: models.Backup, copies: Sequence[models.BackupPartCopy] = ()
    ) -> RemoteArtifact:
        """The artifact of a backups row whose parts are loaded, with its further copies."""
        more: dict[int, list[Copy]] = {}
        for copy in sorted(copies, key=lambda c: (c.index, c.copy)):
            more.setdefault(copy.index, []).append(Copy(copy.file_id, copy.bot_id, copy.repository))
        parts = tuple(
            RemotePart(
                part.index,
                part.file_id,
                part.size_bytes,
                part.sha256,
                part.bot_id,
                tuple(more.get(part.index, ())),
            )
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
    threads: int = DOWNLOAD_THREADS,
    consume: ordered.Consumer | None = None,
    used: dict[int, str] | None = None,
) -> None:
    """Download every part into `path` and check it; IntegrityError naming each bad part.

    A part with copies is read from the first copy that is there and passes its checks;
    `used`, if given, gets the repository each downloaded part came from.

    Up to `threads` parts are downloaded at once, each written at its own offset. Parts already
    in `path` from an earlier attempt are re-hashed and kept when they match, so a redelivered
    step downloads only what is missing. With `keep_going`, every part is checked and all
    problems are reported together (verify); otherwise the first one stops new downloads
    (restore). Network errors that outlive the client's retries propagate unchanged.

    `consume`, if given, reads the artifact from its start in a thread of its own while the
    parts download, each part once it passed its checks; its error is raised once every part
    and the whole artifact passed theirs (a damaged part is named first, whatever the reader
    made of it). Its parts then end in order (worker.restore.stagger), so it reads while the
    rest download.
    """
    with spool.private_file(path) as file:
        kept = _kept(file, artifact)
        file.truncate(artifact.size_bytes)  # each part is written at its offset
        progress = _Progress(on_bytes, {i: artifact.parts[i].size_bytes for i in kept})
        missing = [part for part in artifact.parts if part.index not in kept]
        stream = ordered.InOrder(file.fileno(), [part.size_bytes for part in artifact.parts])
        for index in kept:
            stream.checked(index)
        # Without a reader, nothing is gained by parts ending in order: no part is held.
        lanes = stagger.Stagger(stagger.HOLD_BUDGET if consume is not None else 0.0)
        with ordered.following(consume, stream) as follower:
            problems = _download_all(
                clients,
                artifact,
                missing,
                file,
                progress,
                lanes,
                keep_going,
                threads,
                stream.checked,
                {} if used is None else used,
            )
            if problems:
                summary = _summary(artifact, [problems[i] for i in sorted(problems)])
                raise errors.IntegrityError(summary)
            follower.join()
            stream.drain(READ_CHUNK)  # what the reader left, or all of it without one
    if stream.sha256.hexdigest() != artifact.sha256:
        raise errors.IntegrityError(
            f"{artifact.label}: every part matches its own SHA-256 but the joined artifact "
            f"does not match the recorded {artifact.sha256[:16]}...: the record is inconsistent"
        )
    if follower.error is not None:
        raise follower.error


def _download_all(
    clients: Clients,
    artifact: RemoteArtifact,
    parts: Sequence[RemotePart],
    file: BinaryIO,
    progress: _Progress,
    lanes: stagger.Stagger,
    keep_going: bool,
    threads: int,
    on_checked: Callable[[int], None],
    used: dict[int, str],
) -> dict[int, str]:
    """Download `parts` with up to `threads` at once; the problems found, by part index."""
    problems: dict[int, str] = {}
    waiting = list(reversed(parts))
    running: dict[futures.Future[str | None], RemotePart] = {}
    with futures.ThreadPoolExecutor(max(1, threads), "fetch") as pool:
        while waiting or running:
            # A new download starts only while nothing failed (or every part is to be checked).
            while waiting and len(running) < threads and (keep_going or not problems):
                part = waiting.pop()
                # Clients are taken here: each thread of the runtime has its own.
                readers = [(copy, _client(clients, copy, part)) for copy in part.sources]
                lanes.start(part.index)
                wrote = functools.partial(lanes.wrote, part.index)
                sink = _PartSink(file.fileno(), artifact.offset(part.index), wrote)
                report = progress.of(part.index)
                work = pool.submit(_download_any, readers, artifact, part, sink, report, used)
                # However it ends, a part held behind it must not wait for it.
                work.add_done_callback(functools.partial(_ended, lanes, part.index))
                running[work] = part
            if not running:
                break
            done, _ = futures.wait(running, return_when=futures.FIRST_COMPLETED)
            for work in done:
                part = running.pop(work)
                problem = work.result()  # an exception propagates once the others have ended
                if problem is not None:
                    problems[part.index] = problem
                else:
                    on_checked(part.index)
    return problems


def _ended(lanes: stagger.Stagger, index: int, _work: futures.Future[str | None]) -> None:
    lanes.end(index)


Reader = tuple[Copy, "telegram.TelegramClient | errors.ConfigError"]


def _client(
    clients: Clients, copy: Copy, part: RemotePart
) -> telegram.TelegramClient | errors.ConfigError:
    try:
        return clients(copy.bot_id)
    except errors.ConfigError as exc:
        if not part.copies:
            raise
        return exc  # its bot is no longer configured: that copy is gone for this worker


def _download_any(
    readers: Sequence[Reader],
    artifact: RemoteArtifact,
    part: RemotePart,
    sink: _PartSink,
    on_progress: Callable[[int], None] | None,
    used: dict[int, str],
) -> str | None:
    """The part from its first copy that is there and intact; the problems otherwise."""
    if len(readers) == 1:
        copy, client = readers[0]
        assert not isinstance(client, errors.ConfigError)
        problem = _download(client, artifact, part, sink, on_progress, copy.file_id)
        if problem is None:
            used[part.index] = copy.repository
        return problem
    problems = []
    for copy, client in readers:
        sink.seek(0)
        if isinstance(client, errors.ConfigError):
            problems.append(f"repository {copy.repository}: {client.message}")
            continue
        try:
            problem = _download(client, artifact, part, sink, on_progress, copy.file_id)
        except errors.TelegramUnauthorized as exc:
            # A revoked bot: this copy is gone, another may not be.
            problem = f"{artifact.describe(part)} cannot be downloaded ({exc.message})"
        if problem is None:
            used[part.index] = copy.repository
            return None
        problems.append(f"repository {copy.repository}: {problem}")
    return f"{artifact.describe(part)}: no copy is intact (" + "; ".join(problems) + ")"


def _download(
    client: telegram.TelegramClient,
    artifact: RemoteArtifact,
    part: RemotePart,
    sink: _PartSink,
    on_progress: Callable[[int], None] | None,
    file_id: str,
) -> str | None:
    name = artifact.describe(part)
    try:
        client.download_file(
            file_id, cast(BinaryIO, sink), on_progress=on_progress, size=part.size_bytes
        )
    except _PART_REFUSED as exc:
        # The file itself is refused (gone, wrong id, too big for this API, not what the record
        # says, not in time): a verdict on the part. 401 and network errors say nothing about
        # the backup: they propagate.
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


def _kept(file: BinaryIO, artifact: RemoteArtifact) -> set[int]:
    """The parts already on disk, each at its offset and intact."""
    kept: set[int] = set()
    for part in artifact.parts:
        file.seek(artifact.offset(part.index))
        digest, left = hashlib.sha256(), part.size_bytes
        while left > 0 and (chunk := file.read(min(READ_CHUNK, left))):
            digest.update(chunk)
            left -= len(chunk)
        if left == 0 and digest.hexdigest() == part.sha256:
            kept.add(part.index)
    return kept


class _Progress:
    """The bytes done over all parts, reported in one thread at a time."""

    def __init__(self, report: Callable[[int], None] | None, done: dict[int, int]) -> None:
        self._report = report
        self._done = done
        self._lock = threading.Lock()
        if report is not None:
            report(sum(done.values()))

    def of(self, index: int) -> Callable[[int], None] | None:
        if self._report is None:
            return None
        report = self._report

        def update(done: int) -> None:
            with self._lock:
                self._done[index] = done
                report(sum(self._done.values()))

        return update


class _PartSink:
    """One part's window of the artifact file: written at its offset, hashed as it is written.

    TelegramClient.download seeks back to the start and truncates before each attempt; the
    hash and size restart there (truncating is a no-op: other parts share the file).
    """

    def __init__(self, fd: int, base: int, wrote: Callable[[], None]) -> None:
        self._fd = fd
        self._base = base
        self._wrote = wrote  # told after each write; may hold the download there
        self._reset()

    def _reset(self) -> None:
        self.part = hashlib.sha256()
        self.size = 0

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.size

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence != 0 or offset != 0:
            raise errors.InputError("a part download may only seek back to its start")
        self._reset()
        return 0

    def truncate(self, size: int | None = None) -> int:
        return self.size

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            written = os.pwrite(self._fd, view, self._base + self.size)
            self.part.update(view[:written])
            self.size += written
            view = view[written:]
        self._wrote()
        return len(data)
