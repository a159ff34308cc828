"""Pinned messages: pinChatMessage, unpinChatMessage, and getChat's pinned_message.

A bot cannot read a chat's history, but getChat gives it "the most recent pinned message (by
sending date)": the one message it can find again without having stored its id (the catalog,
worker/catalog/).
"""

from __future__ import annotations

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


def pinned_document(
    client: telegram.TelegramClient, chat_id: int | str
) -> results.SentDocument | None:
    """The chat's most recent pinned message, when it is a document; None when none is pinned."""
    chat = client.call("getChat", {"chat_id": chat_id}, chat_id=chat_id)
    if not isinstance(chat, dict):
        raise errors.TelegramServerError("getChat: the answer is not a chat", method="getChat")
    message = chat.get("pinned_message")
    if message is None:
        return None
    if not isinstance(message, dict) or "document" not in message:
        return None
    return results.sent_document(message, None)
