"""pinChatMessage, unpinChatMessage and getChat's pinned_message, as the Bot API documents them.

getChat answers a ChatFullInfo whose `pinned_message` is "the most recent pinned message (by
sending date)"; a deleted message is no longer pinned. The bot must be a member of the chat
(the stand-in's configured chats), as for sending.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from standin import api as botapi
from standin.store import StoredMessage

JsonObject = dict[str, object]


def _message_id(params: JsonObject, *, required: bool) -> int | None:
    try:
        message_id = botapi._int(params.get("message_id"))
    except ValueError:
        message_id = None
    if message_id is None and required:
        raise botapi.bad_request("message identifier is not specified")
    return message_id


def pin(bot: botapi.BotApi, token: str, params: JsonObject) -> bool:
    """pinChatMessage: True, or 400 "message to pin not found" (or without the right to pin)."""
    from standin import members  # it imports botapi, as this module does

    chat_id = bot.chat(params)
    if not members.may_pin(bot, token, chat_id):
        raise botapi.bad_request("not enough rights to manage pinned messages in the chat")
    message_id = _message_id(params, required=True)
    message = None if message_id is None else bot.store.message(chat_id, message_id)
    if message is None or message.deleted:
        raise botapi.bad_request("message to pin not found")
    bot.store.pin(chat_id, message.message_id)
    return True


def unpin(bot: botapi.BotApi, token: str, params: JsonObject) -> bool:
    """unpinChatMessage: the given message, or the most recent pinned one."""
    chat_id = bot.chat(params)
    if not bot.store.unpin(chat_id, _message_id(params, required=False)):
        raise botapi.bad_request("message to unpin not found")
    return True


def get_chat(bot: botapi.BotApi, token: str, params: JsonObject) -> JsonObject:
    """getChat: the chat, with pinned_message when one is pinned."""
    chat_id = bot.chat(params)
    chat = dict(bot.chat_json(chat_id))
    chat["accent_color_id"] = 0
    chat["max_reaction_count"] = 11
    pinned = bot.store.pinned(chat_id)
    if pinned is not None:
        chat["pinned_message"] = bot.message_json(token, pinned)
    return chat


def member_document(
    bot: botapi.BotApi,
    chat_id: int,
    content: bytes,
    file_name: str,
    *,
    member_id: int,
    reader: int,
    pin: bool,
    channel_post: bool = False,
) -> StoredMessage:
    """A document a chat member (a person, not a bot) posts, and pins when `pin` (any admin
    with can_pin_messages may): what the bot `reader` then sees, and may download, as Telegram's
    bots do with a file they received. `channel_post`: posted as the channel itself, as any of
    a channel's admins may."""
    fd, upload = tempfile.mkstemp(dir=bot.store.files_dir, prefix="member-")
    with os.fdopen(fd, "wb") as out:
        out.write(content)
    digest = hashlib.sha256(content).hexdigest()
    file_id, stored = bot.store.put_file(
        Path(upload), digest, len(content), file_name, owner=reader
    )
    message = bot.store.add_message(
        StoredMessage(
            chat_id=chat_id,
            message_id=0,
            date=0,
            file_id=file_id,
            file_unique_id=stored.file_unique_id,
            file_name=file_name,
            mime_type="application/json",
            sha256=digest,
            size=len(content),
            member_id=member_id,
            channel_post=channel_post,
        )
    )
    if pin:
        bot.store.pin(chat_id, message.message_id)
    return message


METHODS: dict[str, Callable[[botapi.BotApi, str, JsonObject], object]] = {
    "pinchatmessage": pin,
    "unpinchatmessage": unpin,
    "getchat": get_chat,
}
