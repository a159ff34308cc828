"""What the stand-in remembers: uploaded files (on disk, by content) and messages (in memory)."""

from __future__ import annotations

import base64
import collections
import json
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class StoredFile:
    """One distinct content, stored once at `disk_path`."""

    sha256: str
    size: int
    file_unique_id: str
    file_path: str
    disk_path: Path


@dataclass(frozen=True)
class StoredMessage:
    """A message the bot sent; `file_id` is set for documents."""

    chat_id: int
    message_id: int
    date: int
    thread_id: int | None = None
    caption: str | None = None
    text: str | None = None
    file_id: str | None = None
    file_unique_id: str | None = None
    file_name: str | None = None
    mime_type: str | None = None
    sha256: str | None = None
    size: int | None = None
    bot_id: int | None = None
    member_id: int | None = None  # set: a chat member (a person, not a bot) sent it
    channel_post: bool = False  # posted as the channel: no `from`, `sender_chat` instead
    deleted: bool = False

    def as_json(self) -> dict[str, object]:
        """The message as `GET /_standin/messages` shows it."""
        return asdict(self)


KEPT_FILE_IDS = "file-ids.jsonl"  # with keep=True: one JSON object per file id minted


@dataclass
class _State:
    files: dict[str, StoredFile] = field(default_factory=dict)  # sha256 -> file
    file_ids: dict[str, str] = field(default_factory=dict)  # file_id -> sha256
    owners: dict[str, int] = field(default_factory=dict)  # file_id -> the bot that received it
    paths: dict[str, str] = field(default_factory=dict)  # file_path without leading "/" -> sha256
    messages: dict[tuple[int, int], StoredMessage] = field(default_factory=dict)
    next_message_id: collections.Counter[int] = field(default_factory=collections.Counter)
    pins: dict[int, set[int]] = field(default_factory=dict)  # chat -> pinned message ids
    files_made: int = 0  # file paths are numbered by this, never reused (see forget)


class Store:
    """Thread-safe files and messages; `local_root` set = absolute file paths like --local;
    `keep` = the file ids are written to data_dir and read again by the next stand-in there
    (messages are not), so that what one run uploaded can be downloaded by a later one."""

    def __init__(
        self,
        data_dir: Path,
        clock: Callable[[], float],
        local_root: Path | None = None,
        *,
        keep: bool = False,
    ) -> None:
        self.files_dir = data_dir / "files"
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._local_root = local_root
        self._lock = threading.Lock()
        self._state = _State()
        self._kept = data_dir / KEPT_FILE_IDS if keep else None
        if self._kept is not None and self._kept.exists():
            self._reload(self._kept)

    def _reload(self, kept: Path) -> None:
        for line in kept.read_text().splitlines():
            entry = json.loads(line)
            digest = entry["sha256"]
            disk_path = self.files_dir / digest
            if not disk_path.exists():
                continue
            self._state.files[digest] = StoredFile(
                digest, entry["size"], entry["file_unique_id"], entry["file_path"], disk_path
            )
            self._state.paths[entry["file_path"].lstrip("/")] = digest
            self._state.file_ids[entry["file_id"]] = digest
            self._state.owners[entry["file_id"]] = entry["owner"]
            self._state.files_made += 1

    def _keep(self, file_id: str, stored: StoredFile, owner: int) -> None:
        if self._kept is None:
            return
        entry = {"file_id": file_id, "owner": owner, "sha256": stored.sha256, "size": stored.size}
        entry |= {"file_unique_id": stored.file_unique_id, "file_path": stored.file_path}
        with self._kept.open("a") as out:
            out.write(json.dumps(entry) + "\n")

    def now(self) -> int:
        """The stand-in's clock, in whole seconds like Telegram's dates."""
        return int(self._clock())

    def put_file(
        self, upload: Path, digest: str, size: int, file_name: str | None, *, owner: int = 0
    ) -> tuple[str, StoredFile]:
        """Take the uploaded file (once per content) and mint a new file_id for bot `owner`'s
        upload. `upload` was written in files_dir with its sha256 `digest` computed on the way.
        """
        disk_path = self.files_dir / digest
        if disk_path.exists():
            upload.unlink(missing_ok=True)
        else:
            os.replace(upload, disk_path)
        file_id = "BQACAgIAAxkDAAI" + _b64(secrets.token_bytes(36))
        with self._lock:
            stored = self._state.files.get(digest)
            if stored is None:
                suffix = Path(file_name or "").suffix[:16]
                if self._local_root is not None:
                    file_path = str(self._local_root / digest)
                else:
                    file_path = f"documents/file_{self._state.files_made}{suffix}"
                self._state.files_made += 1
                stored = StoredFile(
                    sha256=digest,
                    size=size,
                    file_unique_id="AgAD" + _b64(bytes.fromhex(digest)[:12]),
                    file_path=file_path,
                    disk_path=disk_path,
                )
                self._state.files[digest] = stored
                self._state.paths[file_path.lstrip("/")] = digest
            self._state.file_ids[file_id] = digest
            self._state.owners[file_id] = owner
            self._keep(file_id, stored, owner)
        return file_id, stored

    def file_by_id(self, file_id: str) -> StoredFile | None:
        """The file a file_id resolves to."""
        with self._lock:
            digest = self._state.file_ids.get(file_id)
            return self._state.files.get(digest) if digest else None

    def file_owner(self, file_id: str) -> int | None:
        """The bot a file_id was minted for."""
        with self._lock:
            return self._state.owners.get(file_id)

    def file_by_path(self, file_path: str) -> StoredFile | None:
        """The file a download path (relative, or absolute without its leading "/") names."""
        with self._lock:
            digest = self._state.paths.get(file_path.lstrip("/"))
            return self._state.files.get(digest) if digest else None

    def add_message(self, message: StoredMessage) -> StoredMessage:
        """Store a new message, giving it the chat's next message_id and the current date."""
        with self._lock:
            self._state.next_message_id[message.chat_id] += 1
            stored = replace(
                message, message_id=self._state.next_message_id[message.chat_id], date=self.now()
            )
            self._state.messages[(stored.chat_id, stored.message_id)] = stored
            return stored

    def message(self, chat_id: int, message_id: int) -> StoredMessage | None:
        """A stored message, deleted or not."""
        with self._lock:
            return self._state.messages.get((chat_id, message_id))

    def update(self, message: StoredMessage) -> None:
        """Replace a stored message (deletion, ageing)."""
        with self._lock:
            self._state.messages[(message.chat_id, message.message_id)] = message

    def forget(self, chat_id: int, message_id: int) -> bool:
        """Remove a message and its file, as when someone deletes it by hand in the chat: the
        message is gone (not flagged deleted), its file_id no longer resolves, and the file's
        content goes too unless another message's file_id still holds it. False if unknown."""
        with self._lock:
            message = self._state.messages.pop((chat_id, message_id), None)
            if message is None:
                return False
            self._state.pins.get(chat_id, set()).discard(message_id)
            digest = self._state.file_ids.pop(message.file_id or "", None)
            self._state.owners.pop(message.file_id or "", None)
            if digest is None or digest in self._state.file_ids.values():
                return True
            stored = self._state.files.pop(digest, None)
            if stored is not None:
                self._state.paths.pop(stored.file_path.lstrip("/"), None)
        if stored is not None:
            stored.disk_path.unlink(missing_ok=True)
        return True

    def pin(self, chat_id: int, message_id: int) -> None:
        """Pin a message of the chat (several may be pinned at once, as in Telegram)."""
        with self._lock:
            self._state.pins.setdefault(chat_id, set()).add(message_id)

    def unpin(self, chat_id: int, message_id: int | None) -> bool:
        """Unpin one message, or the most recent pinned one; False if it was not pinned."""
        with self._lock:
            pinned = self._state.pins.get(chat_id, set())
            if message_id is None:
                message_id = max(pinned, default=None)
            if message_id is None or message_id not in pinned:
                return False
            pinned.discard(message_id)
            return True

    def pinned(self, chat_id: int) -> StoredMessage | None:
        """The most recent pinned message that still exists (getChat's pinned_message)."""
        with self._lock:
            alive = [
                self._state.messages[(chat_id, message_id)]
                for message_id in self._state.pins.get(chat_id, set())
                if not self._state.messages[(chat_id, message_id)].deleted
            ]
        return max(alive, key=lambda m: (m.date, m.message_id), default=None)

    def messages(self) -> list[StoredMessage]:
        """Every stored message, in the order sent."""
        with self._lock:
            return list(self._state.messages.values())

    def reset(self) -> None:
        """Forget every message and file."""
        with self._lock:
            self._state = _State()
        for path in self.files_dir.iterdir():
            path.unlink(missing_ok=True)
