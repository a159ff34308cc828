"""Typed results of the Bot API calls, read from the JSON `result` with checks.

A malformed successful answer raises TelegramServerError; the caller does not retry it (the
call itself succeeded), the message says what was missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker import errors

# Telegram may file an upload under another kind when it detects the content type.
_FILE_KEYS = ("document", "video", "audio", "animation", "voice", "sticker")


@dataclass(frozen=True)
class SentDocument:
    """A document message the bot sent."""

    message_id: int
    chat_id: int
    file_id: str
    file_unique_id: str
    file_size: int | None
    file_name: str | None
    date: int
    migrated_to_chat_id: int | None = None  # set when migrate_to_chat_id was followed


@dataclass(frozen=True)
class TelegramFile:
    """A file ready to download (getFile); file_path is absolute with a --local server."""

    file_id: str
    file_unique_id: str
    file_size: int | None
    file_path: str | None


@dataclass(frozen=True)
class BotUser:
    """The bot itself (getMe)."""

    id: int
    username: str | None
    first_name: str


def _malformed(method: str, what: str) -> errors.TelegramServerError:
    return errors.TelegramServerError(
        f"{method}: the Bot API's answer is malformed: {what}", method=method
    )


def _object(value: object, method: str, what: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise _malformed(method, f"{what} is not an object")
    return {str(key): item for key, item in value.items()}


def _int(data: dict[str, object], key: str, method: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _malformed(method, f"{key} is missing or not an integer")
    return value


def _str(data: dict[str, object], key: str, method: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise _malformed(method, f"{key} is missing or not a string")
    return value


def _opt_int(data: dict[str, object], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _opt_str(data: dict[str, object], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def bot_user(result: object) -> BotUser:
    """A getMe result."""
    data = _object(result, "getMe", "the result")
    return BotUser(
        id=_int(data, "id", "getMe"),
        username=_opt_str(data, "username"),
        first_name=_opt_str(data, "first_name") or "",
    )


def message_id(result: object, method: str) -> int:
    """The message_id of a Message result."""
    return _int(_object(result, method, "the result"), "message_id", method)


def sent_document(result: object, migrated_to_chat_id: int | None) -> SentDocument:
    """A sendDocument result."""
    method = "sendDocument"
    message = _object(result, method, "the result")
    chat = _object(message.get("chat"), method, "chat")
    key = next((k for k in _FILE_KEYS if k in message), None)
    if key is None:
        raise _malformed(method, "the message carries no document")
    document = _object(message[key], method, key)
    return SentDocument(
        message_id=_int(message, "message_id", method),
        chat_id=_int(chat, "id", method),
        file_id=_str(document, "file_id", method),
        file_unique_id=_str(document, "file_unique_id", method),
        file_size=_opt_int(document, "file_size"),
        file_name=_opt_str(document, "file_name"),
        date=_int(message, "date", method),
        migrated_to_chat_id=migrated_to_chat_id,
    )


def telegram_file(result: object) -> TelegramFile:
    """A getFile result."""
    data = _object(result, "getFile", "the result")
    return TelegramFile(
        file_id=_str(data, "file_id", "getFile"),
        file_unique_id=_str(data, "file_unique_id", "getFile"),
        file_size=_opt_int(data, "file_size"),
        file_path=_opt_str(data, "file_path"),
    )
