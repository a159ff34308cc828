"""What a backup was asked for: task arguments validated once, stored as the job's payload."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict

from worker import errors
from worker.postgres import servers, source

CAPTION_LIMIT = 1024  # characters, Telegram's sendDocument limit after entity parsing
MAX_EXPIRY_DAYS = 36500
_PROJECT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_PROJECT_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]+")
PROJECT_KEEP = 100  # characters of a database name kept in the project id derived from it
PROJECT_HASH = 12  # hex digits of the name's SHA-256 that keep derived project ids apart
_FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,150}")


class Payload(TypedDict):
    """The jobs row's payload for a backup: JSON, secret-free."""

    project_id: str
    database: str
    expires_in_days: int | None
    caption: str | None
    filename: str | None
    chat_id: str
    thread_id: int | None
    server: str


@dataclass(frozen=True)
class BackupRequest:
    """A validated request for one database backup."""

    project_id: str
    database: str
    expires_in_days: int | None = None
    caption: str | None = None
    filename: str | None = None
    server: str = servers.DEFAULT_SERVER  # the source server (worker.postgres.servers)

    def payload(self, chat_id: str, thread_id: int | None) -> Payload:
        """The JSON stored in the jobs row."""
        return Payload(
            project_id=self.project_id,
            database=self.database,
            expires_in_days=self.expires_in_days,
            caption=self.caption,
            filename=self.filename,
            chat_id=chat_id,
            thread_id=thread_id,
            server=self.server,
        )

    @classmethod
    def from_payload(cls, payload: Mapping[str, object]) -> BackupRequest:
        """Rebuild (and check again) the request from a jobs row."""
        return validate(
            payload.get("project_id"),
            payload.get("database"),
            payload.get("expires_in_days"),
            payload.get("caption"),
            payload.get("filename"),
            payload.get("server"),
        )


def validate_project_id(value: object) -> str:
    """The gateway's opaque project id: a short string of safe characters."""
    if not isinstance(value, str) or not _PROJECT_ID.fullmatch(value):
        raise errors.InputError(
            f"invalid project id {_preview(value)}: use 1-128 letters, digits, '_', '.', ':' or '-'"
        )
    return value


def project_id_for_database(database: str) -> str:
    """The project id of a database a whole-server backup takes: its name when that is a
    project id, else the name's safe characters and a hash of the whole name, so that two
    databases never share one (`my db` and `my-db` are two projects)."""
    if _PROJECT_ID.fullmatch(database):
        return database
    safe = _PROJECT_UNSAFE.sub("-", database).lstrip("_.:-")[:PROJECT_KEEP] or "db"
    digest = hashlib.sha256(database.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{safe}-{digest[:PROJECT_HASH]}"


def validate_job_id(value: object) -> uuid.UUID | None:
    """None, or a job id as a UUID string."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise errors.InputError(f"invalid job id {_preview(value)}: expected a UUID string")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise errors.InputError(f"invalid job id {_preview(value)}: expected a UUID") from None


def validate(
    project_id: object,
    database: object,
    expires_in_days: object = None,
    caption: object = None,
    filename: object = None,
    server: object = None,
) -> BackupRequest:
    """Check every argument of backups.create; InputError says what is wrong and what is allowed.

    `server` None is `default`; whether the server is known is the worker's registry to say.
    """
    project = validate_project_id(project_id)
    name = source.validate_database_name(database)
    return BackupRequest(
        project,
        name,
        validate_expiry(expires_in_days),
        validate_caption(caption, project, name),
        validate_filename(filename),
        servers.validate_name(servers.DEFAULT_SERVER if server is None else server),
    )


def validate_expiry(expires_in_days: object) -> int | None:
    """None, or a whole number of days from 1 to MAX_EXPIRY_DAYS."""
    if expires_in_days is not None and (
        isinstance(expires_in_days, bool)
        or not isinstance(expires_in_days, int)
        or not 1 <= expires_in_days <= MAX_EXPIRY_DAYS
    ):
        raise errors.InputError(
            f"invalid expires_in_days {_preview(expires_in_days)}: "
            f"a whole number of days from 1 to {MAX_EXPIRY_DAYS}"
        )
    return expires_in_days


def validate_caption(caption: object, project_id: str, label: str) -> str | None:
    """None, or extra caption text that fits beside the part details in every caption."""
    if caption is None:
        return None
    if not isinstance(caption, str) or "\x00" in caption:
        raise errors.InputError("invalid caption: expected text without NUL characters")
    longest = max(
        len(part_caption(project_id, label, 999, count, 10**15, "0" * 64, None))
        for count in (999, None)
    )
    room = CAPTION_LIMIT - longest
    if len(caption) > room - 1:
        raise errors.InputError(
            f"caption is too long: {len(caption)} characters, at most {room - 1} fit beside "
            f"the part details in Telegram's {CAPTION_LIMIT}-character caption"
        )
    return caption


def validate_filename(filename: object) -> str | None:
    """None, or a base file name of safe characters."""
    if filename is not None and (
        not isinstance(filename, str) or not _FILENAME.fullmatch(filename)
    ):
        raise errors.InputError(
            f"invalid filename {_preview(filename)}: use letters, digits, '_', '.' or '-'"
        )
    return filename


def part_caption(
    project_id: str,
    database: str,
    index: int,
    count: int | None,
    size_bytes: int,
    sha256: str | None,
    extra: str | None,
) -> str:
    """The caption of one part: enough to find and check it by eye in the chat.

    A part sent while the dump still runs cannot know the total (`count` None): its caption
    says more parts follow, and the last part's caption gives the total. A part sent while it
    was still being written cannot know its hash (`sha256` None): the record has it.
    """
    where = f"part {index + 1}/{count}" if count is not None else f"part {index + 1}, more follow"
    lines = [
        f"{project_id} / {database}: {where}",
        f"{size_bytes:,} bytes" + (f", sha256 {sha256}" if sha256 is not None else ""),
    ]
    if extra:
        lines.append(extra)
    return "\n".join(lines)


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
