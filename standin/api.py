"""The Bot API methods the stand-in implements, with Telegram's limits and error descriptions."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, replace

from standin import members  # it imports this module too; used at call time only
from standin.limits import Limiter
from standin.multipart import Upload
from standin.store import Store, StoredFile, StoredMessage

CLOUD_UPLOAD_LIMIT = 50 * 1000 * 1000  # bytes: "files of any type of up to 50 MB"
CLOUD_DOWNLOAD_LIMIT = 20 * 1000 * 1000  # bytes: "download files of up to 20 MB"
LOCAL_UPLOAD_LIMIT = 2000 * 1000 * 1000  # bytes, telegram-bot-api --local
CAPTION_LIMIT = 1024  # characters
TEXT_LIMIT = 4096  # characters
DELETE_WINDOW = 48 * 3600  # seconds a bot may delete its own message
SUPERGROUP_FLOOR = -1_000_000_000_000  # ids at or below are supergroups and channels

JsonObject = dict[str, object]


class ApiError(Exception):
    """A Bot API error answer: HTTP status, description and optional parameters."""

    def __init__(self, status: int, description: str, parameters: JsonObject | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def envelope(self) -> JsonObject:
        """The JSON body Telegram sends for this error."""
        body: JsonObject = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(what: str, parameters: JsonObject | None = None) -> ApiError:
    """A 400 with Telegram's "Bad Request: ..." description."""
    return ApiError(400, f"Bad Request: {what}", parameters)


def _int(value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("bool is not an integer")
    if isinstance(value, int):
        return value
    return int(str(value).strip())


def bot_id(token: str) -> int:
    """The bot's user id: the token's numeric prefix, as Telegram's (a checksum for odd tokens)."""
    head = token.partition(":")[0]
    return int(head) if head.isdigit() else zlib.crc32(token.encode()) or 1


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


@dataclass(frozen=True)
class Config:
    """Who the stand-in knows: tokens, chats, forum topics and migrated groups."""

    tokens: frozenset[str]
    chats: frozenset[int]
    topics: Mapping[int, frozenset[int]]
    migrated: Mapping[int, int]
    upload_limit: int = CLOUD_UPLOAD_LIMIT
    download_limit: int | None = CLOUD_DOWNLOAD_LIMIT


class BotApi:
    """Dispatches a parsed request to its method; raises ApiError for Telegram's error answers."""

    def __init__(self, config: Config, store: Store, limiter: Limiter) -> None:
        self.config = config
        self.store = store
        self.limiter = limiter
        self.members = members.Members()  # each bot's status and rights per chat

    def call(self, token: str, method: str, params: JsonObject, document: Upload | None) -> object:
        """The `result` of a successful call."""
        name = method.lower()
        if name == "getme":
            return self.bot_user(token)
        if name == "senddocument":
            return self._send_document(token, params, document)
        if name == "sendmessage":
            return self._send_message(token, params)
        if name == "getfile":
            return self._get_file(token, params)
        if name == "deletemessage":
            return self._delete_message(params)
        from standin import pins  # it imports this module for its helpers

        other = {**pins.METHODS, **members.METHODS}.get(name)
        if other is not None:
            return other(self, token, params)
        raise ApiError(404, "Not Found")

    def bot_user(self, token: str) -> JsonObject:
        """The bot's User object, its id taken from the token like Telegram's."""
        return self.bot_user_of(bot_id(token))

    def bot_user_of(self, user_id: int) -> JsonObject:
        """The User object of the bot whose id is `user_id`."""
        return {
            "id": user_id,
            "is_bot": True,
            "first_name": "Backup Stand-in",
            "username": f"standin_{user_id}_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def chat(self, params: JsonObject) -> int:
        """The target chat id, after the migration and membership checks."""
        try:
            chat_id = _int(params.get("chat_id"))
        except ValueError:
            chat_id = None
        if chat_id is None:
            raise bad_request("chat not found")
        if chat_id in self.config.migrated:
            raise bad_request(
                "group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self.config.migrated[chat_id]},
            )
        if chat_id not in self.config.chats:
            raise bad_request("chat not found")
        return chat_id

    def _prepare(self, params: JsonObject) -> tuple[int, int | None]:
        chat_id = self.chat(params)
        try:
            thread_id = _int(params.get("message_thread_id"))
        except ValueError:
            raise bad_request("message thread not found") from None
        if thread_id is not None and thread_id not in self.config.topics.get(chat_id, ()):
            raise bad_request("message thread not found")
        return chat_id, thread_id

    def _admit(self, token: str, chat_id: int) -> None:
        # Last check before a message exists, so only messages Telegram would send are counted.
        wait = self.limiter.admit(bot_id(token), chat_id)
        if wait is not None:
            raise ApiError(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})

    def _file(self, token: str, file_id: str) -> StoredFile:
        stored = self.store.file_by_id(file_id)
        if stored is None:
            raise bad_request("invalid file_id")
        # A file_id "can't be transferred from one bot to another".
        if self.store.file_owner(file_id) != bot_id(token):
            raise bad_request("wrong file identifier/HTTP URL specified")
        return stored

    def _send_document(self, token: str, params: JsonObject, document: Upload | None) -> JsonObject:
        chat_id, thread_id = self._prepare(params)
        caption = _text(params.get("caption"))
        if len(caption) > CAPTION_LIMIT:
            raise bad_request("message caption is too long")
        if document is not None:
            if document.size == 0:
                raise bad_request("file must be non-empty")
            if document.size > self.config.upload_limit:
                raise ApiError(413, "Request Entity Too Large")
            self._admit(token, chat_id)
            file_id, stored = self.store.put_file(
                document.path,
                document.sha256,
                document.size,
                document.filename,
                owner=bot_id(token),
            )
            file_name = document.filename
            mime_type = document.content_type or "application/octet-stream"
        elif isinstance(params.get("document"), str) and params["document"]:
            # Re-sending by file_id: Telegram answers with the same file_id.
            file_id = str(params["document"])
            if self.store.file_by_id(file_id) is None:
                raise bad_request("wrong file identifier/HTTP URL specified")
            stored = self._file(token, file_id)
            self._admit(token, chat_id)
            file_name, mime_type = None, "application/octet-stream"
        else:
            raise bad_request("there is no document in the request")
        message = self.store.add_message(
            StoredMessage(
                chat_id=chat_id,
                message_id=0,
                date=0,
                thread_id=thread_id,
                caption=caption or None,
                file_id=file_id,
                file_unique_id=stored.file_unique_id,
                file_name=file_name,
                mime_type=mime_type,
                sha256=stored.sha256,
                size=stored.size,
                bot_id=bot_id(token),
            )
        )
        return self.message_json(token, message)

    def _send_message(self, token: str, params: JsonObject) -> JsonObject:
        chat_id, thread_id = self._prepare(params)
        text = _text(params.get("text"))
        if not text:
            raise bad_request("message text is empty")
        if len(text) > TEXT_LIMIT:
            raise bad_request("message is too long")
        self._admit(token, chat_id)
        message = self.store.add_message(
            StoredMessage(
                chat_id=chat_id,
                message_id=0,
                date=0,
                thread_id=thread_id,
                text=text,
                bot_id=bot_id(token),
            )
        )
        return self.message_json(token, message)

    def _get_file(self, token: str, params: JsonObject) -> JsonObject:
        stored = self._file(token, _text(params.get("file_id")))
        limit = self.config.download_limit
        if limit is not None and stored.size > limit:
            raise bad_request("file is too big")
        return {
            "file_id": _text(params.get("file_id")),
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.file_path,
        }

    def _delete_message(self, params: JsonObject) -> bool:
        chat_id = self.chat(params)
        try:
            message_id = _int(params.get("message_id"))
        except ValueError:
            message_id = None
        if message_id is None:
            raise bad_request("message identifier is not specified")
        message = self.store.message(chat_id, message_id)
        if message is None or message.deleted:
            raise bad_request("message to delete not found")
        if self.store.now() - message.date > DELETE_WINDOW:
            raise bad_request("message can't be deleted")
        self.store.update(replace(message, deleted=True))
        return True

    def chat_json(self, chat_id: int) -> JsonObject:
        """The Chat object Telegram puts in a Message."""
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "Operator"}
        kind = "supergroup" if chat_id <= SUPERGROUP_FLOOR else "group"
        chat: JsonObject = {"id": chat_id, "title": f"Backups {chat_id}", "type": kind}
        if chat_id in self.config.topics:
            chat["is_forum"] = True
        return chat

    def message_json(self, token: str, message: StoredMessage) -> JsonObject:
        """A Message (sendDocument, getChat's pinned_message): `from` is whoever sent it."""
        sender: JsonObject = {"id": message.member_id, "is_bot": False, "first_name": "Member"}
        if message.member_id is None:
            bot = self.bot_user_of(message.bot_id or bot_id(token))
            sender = {k: bot[k] for k in ("id", "is_bot", "first_name", "username")}
        out: JsonObject = {"message_id": message.message_id, "from": sender}
        if message.channel_post:  # "may be empty for messages sent to channels"
            out = {"message_id": message.message_id, "sender_chat": {"id": message.chat_id}}
        out.update(chat=self.chat_json(message.chat_id), date=message.date)
        if message.thread_id is not None:
            out["message_thread_id"] = message.thread_id
            out["is_topic_message"] = True
        if message.text is not None:
            out["text"] = message.text
        if message.file_id is not None:
            document: JsonObject = {
                "file_id": message.file_id,
                "file_unique_id": message.file_unique_id,
                "mime_type": message.mime_type,
                "file_size": message.size,
            }
            if message.file_name is not None:
                document["file_name"] = message.file_name
            out["document"] = document
        if message.caption is not None:
            out["caption"] = message.caption
        return out
