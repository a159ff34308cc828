"""getChatMember: each bot's status and rights in a chat, and pinning refused without the right."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from standin.api import bot_id
from standin.server import BotApiStandin
from tests.unit.conftest import CHAT, TOKEN
from worker import errors
from worker.telegram import pins
from worker.telegram.client import TelegramClient

BOT = bot_id(TOKEN)


def test_a_bot_is_a_full_administrator_by_default(client: TelegramClient) -> None:
    member = client.call("getChatMember", {"chat_id": CHAT, "user_id": BOT})
    assert isinstance(member, dict)
    assert member["status"] == "administrator"
    assert member["can_delete_messages"] is True
    assert member["can_pin_messages"] is True
    assert "can_post_messages" not in member  # channels only
    assert member["user"]["id"] == client.get_me().id


def test_a_plain_member_has_no_rights_and_cannot_pin(
    client: TelegramClient, standin: BotApiStandin, tmp_path: Path
) -> None:
    standin.set_member(CHAT, BOT, "member")
    member = client.call("getChatMember", {"chat_id": CHAT, "user_id": BOT})
    assert member == {"status": "member", "user": member["user"]}  # type: ignore[index]
    path = tmp_path / "a.json"
    path.write_bytes(b"{}")
    sent = client.send_document(CHAT, path).message_id
    with pytest.raises(errors.TelegramBadRequest, match="not enough rights"):
        pins.pin(client, CHAT, sent)


def test_rights_can_be_taken_one_by_one_over_the_control_endpoint(
    client: TelegramClient, standin: BotApiStandin
) -> None:
    answer = requests.post(
        f"{standin.url}/_standin/member",
        json={
            "chat_id": CHAT,
            "user_id": BOT,
            "status": "administrator",
            "rights": {"can_delete_messages": False},
        },
        timeout=5,
    )
    assert answer.json() == {"ok": True, "result": True}
    member = client.call("getChatMember", {"chat_id": CHAT, "user_id": BOT})
    assert isinstance(member, dict)
    assert (member["can_delete_messages"], member["can_pin_messages"]) == (False, True)
    refused = requests.post(
        f"{standin.url}/_standin/member",
        json={"chat_id": CHAT, "user_id": BOT, "status": "owner"},
        timeout=5,
    )
    assert refused.status_code == 400
    standin.reset()
    again = client.call("getChatMember", {"chat_id": CHAT, "user_id": BOT})
    assert isinstance(again, dict)
    assert again["can_delete_messages"] is True


def test_unknown_users_and_chats_are_refused(client: TelegramClient) -> None:
    with pytest.raises(errors.TelegramBadRequest, match="user not found"):
        client.call("getChatMember", {"chat_id": CHAT, "user_id": 42})
    with pytest.raises(errors.TelegramBadRequest, match="chat not found"):
        client.call("getChatMember", {"chat_id": -100555, "user_id": BOT})
