"""Typed results of the Bot API calls, validated from the JSON `result` by pydantic.

The fields are strict (an integer must be a JSON integer, not a string or a bool), ignore
fields Telegram adds later, and take Python ints of any size (`file_size` beyond 2**31).
A malformed successful answer raises TelegramServerError; the caller does not retry it (the
call itself succeeded), the message names the fields that were wrong.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, TypeVar

import pydantic
from pydantic import BaseModel, ConfigDict, Strict, StringConstraints, TypeAdapter
from pydantic_core import ErrorDetails

from worker import errors

_ANSWER = ConfigDict(extra="ignore", frozen=True)
_SHOWN_ERRORS = 3  # validation errors quoted in a message; the first ones say enough
# Strict per field, not per model: strict models would refuse the dicts the JSON decodes into.
Int = Annotated[int, Strict()]
Str = Annotated[str, Strict()]
NonEmpty = Annotated[str, Strict(), StringConstraints(min_length=1)]
_T = TypeVar("_T")
_NOT_AN_OBJECT = frozenset({"model_type", "dataclass_type", "model_attributes_type", "dict_type"})


@pydantic.dataclasses.dataclass(frozen=True, config=ConfigDict(extra="ignore"))
class TelegramFile:
    """A file ready to download (getFile); file_path is absolute with a --local server."""

    file_id: NonEmpty
    file_unique_id: NonEmpty
    file_size: Int | None = None
    file_path: Str | None = None


@pydantic.dataclasses.dataclass(frozen=True, config=ConfigDict(extra="ignore"))
class BotUser:
    """The bot itself (getMe)."""

    id: Int
    username: Str | None = None
    first_name: Str = ""


@dataclasses.dataclass(frozen=True)
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


class _Chat(BaseModel):
    model_config = _ANSWER
    id: Int


class _Document(BaseModel):
    model_config = _ANSWER
    file_id: NonEmpty
    file_unique_id: NonEmpty
    file_size: Int | None = None
    file_name: Str | None = None


class _Message(BaseModel):
    """A Message result; Telegram may file an upload under another kind than document."""

    model_config = _ANSWER
    message_id: Int
    date: Int = 0
    chat: _Chat | None = None
    document: _Document | None = None
    video: _Document | None = None
    audio: _Document | None = None
    animation: _Document | None = None
    voice: _Document | None = None
    sticker: _Document | None = None

    def file(self) -> _Document | None:
        """The uploaded file, whichever kind Telegram filed it under."""
        kinds = (self.document, self.video, self.audio, self.animation, self.voice, self.sticker)
        return next((kind for kind in kinds if kind is not None), None)


class _SentMessage(_Message):
    """A sendDocument result: date and chat are required there."""

    date: Int
    chat: _Chat


def _malformed(method: str, what: str) -> errors.TelegramServerError:
    return errors.TelegramServerError(
        f"{method}: the Bot API's answer is malformed: {what}", method=method
    )


def _problem(error: ErrorDetails) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "the result"
    # pydantic would name our private model classes here ("instance of _SentMessage").
    if error["type"] in _NOT_AN_OBJECT:
        return f"{where}: not an object"
    return f"{where}: {error['msg'][:1].lower()}{error['msg'][1:]}"


def _validate(adapter: TypeAdapter[_T], result: object, method: str) -> _T:
    try:
        return adapter.validate_python(result)
    except pydantic.ValidationError as exc:
        problems = [_problem(error) for error in exc.errors(include_url=False)[:_SHOWN_ERRORS]]
        # `from None`: the ValidationError quotes the input, which need not be shown again.
        raise _malformed(method, "; ".join(problems)) from None


_BOT_USER = TypeAdapter(BotUser)
_TELEGRAM_FILE = TypeAdapter(TelegramFile)
_MESSAGE = TypeAdapter(_Message)
_SENT_MESSAGE = TypeAdapter(_SentMessage)


def bot_user(result: object) -> BotUser:
    """A getMe result."""
    return _validate(_BOT_USER, result, "getMe")


def message_id(result: object, method: str) -> int:
    """The message_id of a Message result."""
    return _validate(_MESSAGE, result, method).message_id


def sent_document(result: object, migrated_to_chat_id: int | None) -> SentDocument:
    """A sendDocument result."""
    method = "sendDocument"
    message = _validate(_SENT_MESSAGE, result, method)
    document = message.file()
    if document is None:
        raise _malformed(method, "the message carries no document")
    return SentDocument(
        message_id=message.message_id,
        chat_id=message.chat.id,
        file_id=document.file_id,
        file_unique_id=document.file_unique_id,
        file_size=document.file_size,
        file_name=document.file_name,
        date=message.date,
        migrated_to_chat_id=migrated_to_chat_id,
    )


def telegram_file(result: object) -> TelegramFile:
    """A getFile result."""
    return _validate(_TELEGRAM_FILE, result, "getFile")
