"""Pinned messages: pinChatMessage, unpinChatMessage, and getChat's pinned_message.

A bot cannot read a chat's history, but getChat gives it "the most recent pinned message (by
sending date)": the one message it can find again without having stored its id (the catalog,
worker/catalog/).
"""

from __future__ import annotations

import dataclasses

from worker import errors
from worker.telegram import client as telegram
from worker.telegram import results


def pin(client: telegram.TelegramClient, chat_id: int | str, message_id: int) -> None:
    """Pin a message silently (the bot needs can_pin_messages in groups)."""
    params: dict[str, object] = {
        "chat_id": chat_id,
        "message_id": message_id,
        "disable_notification": True,
    }
    client.call("pinChatMessage", params, chat_id=chat_id)


def unpin(client: telegram.TelegramClient, chat_id: int | str, message_id: int) -> bool:
    """Unpin one message; False when it was not pinned (any more)."""
    params: dict[str, object] = {"chat_id": chat_id, "message_id": message_id}
    try:
        client.call("unpinChatMessage", params, chat_id=chat_id)
    except errors.TelegramBadRequest:
        return False
    return True


@dataclasses.dataclass(frozen=True)
class Pinned:
    """The chat's most recent pinned message, and who sent it (`from`, as Telegram says)."""

    message_id: int
    sender_id: int | None  # None: no `from` ("may be empty for messages sent to channels")
    sender_is_bot: bool
    sender_chat_id: int | None  # a post on behalf of a chat: which
    document: results.SentDocument | None  # None: not a document


def _pinned_json(client: telegram.TelegramClient, chat_id: int | str) -> dict[str, object] | None:
    chat = client.call("getChat", {"chat_id": chat_id}, chat_id=chat_id)
    if not isinstance(chat, dict):
        raise errors.TelegramServerError("getChat: the answer is not a chat", method="getChat")
    message = chat.get("pinned_message")
    return message if isinstance(message, dict) else None


def pinned_document(
    client: telegram.TelegramClient, chat_id: int | str
) -> results.SentDocument | None:
    """The chat's most recent pinned message, when it is a document; None when none is pinned."""
    message = _pinned_json(client, chat_id)
    if message is None or "document" not in message:
        return None
    return results.sent_document(message, None)


def pinned(client: telegram.TelegramClient, chat_id: int | str) -> Pinned | None:
    """The chat's most recent pinned message with its sender; None when none is pinned.
    Anyone with can_pin_messages pins: check the sender before believing what it says."""
    message = _pinned_json(client, chat_id)
    if message is None:
        return None
    sender = message.get("from")
    sender = sender if isinstance(sender, dict) else {}
    sender_id = sender.get("id")
    chat = message.get("sender_chat")
    on_behalf = chat.get("id") if isinstance(chat, dict) else None
    return Pinned(
        message_id=results.message_id(message, "getChat"),
        sender_id=sender_id if isinstance(sender_id, int) and sender_id > 0 else None,
        sender_is_bot=sender.get("is_bot") is True,
        sender_chat_id=on_behalf if isinstance(on_behalf, int) else None,
        document=results.sent_document(message, None) if "document" in message else None,
    )
