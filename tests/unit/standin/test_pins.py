"""pinChatMessage, unpinChatMessage and getChat's pinned_message: the stand-in and the client."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import requests

from standin.server import BotApiStandin
from tests.unit.conftest import CHAT, TOKEN
from worker import errors
from worker.telegram import pins
from worker.telegram.client import TelegramClient


def send(client: TelegramClient, tmp_path: Path, name: str) -> int:
    path = tmp_path / name
    path.write_bytes(name.encode() * 10)
    return client.send_document(CHAT, path).message_id


def test_getchat_gives_the_most_recent_pinned_document(
    client: TelegramClient, tmp_path: Path
) -> None:
    assert pins.pinned_document(client, CHAT) is None
    first, second = send(client, tmp_path, "a.json"), send(client, tmp_path, "b.json")
    pins.pin(client, CHAT, second)
    pins.pin(client, CHAT, first)  # pinned later, but sent earlier: "by sending date"
    pinned = pins.pinned_document(client, CHAT)
    assert pinned is not None
    assert (pinned.message_id, pinned.file_name) == (second, "b.json")
    assert pins.unpin(client, CHAT, second)
    pinned = pins.pinned_document(client, CHAT)
    assert pinned is not None
    assert pinned.message_id == first
    assert not pins.unpin(client, CHAT, second)  # not pinned any more


def test_a_deleted_message_is_no_longer_pinned(client: TelegramClient, tmp_path: Path) -> None:
    message_id = send(client, tmp_path, "a.json")
    pins.pin(client, CHAT, message_id)
    assert client.delete_message(CHAT, message_id)
    assert pins.pinned_document(client, CHAT) is None


def test_pinning_a_missing_message_or_in_a_foreign_chat_is_refused(
    client: TelegramClient,
) -> None:
    with pytest.raises(errors.TelegramBadRequest, match="message to pin not found"):
        pins.pin(client, CHAT, 999)
    with pytest.raises(errors.TelegramBadRequest, match="chat -100999 not found"):
        pins.pinned_document(client, -100999)


def test_the_raw_answers_match_the_bot_api(standin: BotApiStandin, tmp_path: Path) -> None:
    base = f"{standin.url}/bot{TOKEN}"
    with TelegramClient(TOKEN, standin.url) as client:
        message_id = send(client, tmp_path, "a.json")
    pinned = requests.post(
        f"{base}/pinChatMessage",
        json={"chat_id": CHAT, "message_id": message_id, "disable_notification": True},
        timeout=10,
    ).json()
    assert pinned == {"ok": True, "result": True}
    chat = requests.post(f"{base}/getChat", json={"chat_id": CHAT}, timeout=10).json()
    assert chat["ok"]
    assert chat["result"]["id"] == CHAT
    assert chat["result"]["type"] == "supergroup"
    assert chat["result"]["pinned_message"]["message_id"] == message_id
    assert chat["result"]["pinned_message"]["document"]["file_name"] == "a.json"
    unpinned = requests.post(f"{base}/unpinChatMessage", json={"chat_id": CHAT}, timeout=10)
    assert unpinned.json() == {"ok": True, "result": True}
    again = requests.post(f"{base}/unpinChatMessage", json={"chat_id": CHAT}, timeout=10)
    assert again.status_code == 400
    assert again.json()["description"] == "Bad Request: message to unpin not found"


def test_a_pinned_message_says_who_sent_it_a_member_or_the_bot(
    client: TelegramClient, standin: BotApiStandin, tmp_path: Path
) -> None:
    ours = send(client, tmp_path, "a.json")
    pins.pin(client, CHAT, ours)
    pinned = pins.pinned(client, CHAT)
    assert pinned is not None
    assert (pinned.message_id, pinned.sender_is_bot, pinned.sender_id) == (ours, True, 123456)
    theirs = standin.member_posts(int(CHAT), b"{}", "backup-worker-catalog-0.json")
    pinned = pins.pinned(client, CHAT)
    assert pinned is not None
    assert (pinned.message_id, pinned.sender_is_bot) == (theirs, False)
    assert pinned.sender_id == 777000111
    assert pinned.document is not None
    sink = io.BytesIO()
    client.download_file(pinned.document.file_id, sink)  # the bot can read what it is shown
    assert sink.getvalue() == b"{}"
