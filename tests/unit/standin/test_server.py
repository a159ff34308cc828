"""The Bot API stand-in, spoken to over plain HTTP: Telegram's answers, limits and descriptions."""

from __future__ import annotations

import hashlib
import signal
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import requests

from standin.server import BotApiStandin
from tests.support.standin import StandinProcess
from tests.unit.conftest import (
    CHAT,
    FORUM_CHAT,
    NEW_SUPERGROUP,
    OLD_GROUP,
    TOKEN,
    TOPIC,
)

JsonDict = dict[str, Any]


def _call(
    standin: BotApiStandin,
    method: str,
    token: str = TOKEN,
    *,
    data: Mapping[str, object] | None = None,
    json: Mapping[str, object] | None = None,
    files: Mapping[str, tuple[str, bytes]] | None = None,
) -> Any:  # the parsed JSON answer
    url = f"{standin.url}/bot{token}/{method}"
    response = requests.post(url, data=data, json=json, files=files, timeout=10)
    body = response.json()
    assert body.get("error_code", 200) == response.status_code
    assert response.headers["Content-Type"] == "application/json"
    return body


def _upload(standin: BotApiStandin, content: bytes, name: str = "p.bin", **fields: object) -> Any:
    return _call(
        standin,
        "sendDocument",
        data={"chat_id": CHAT, **fields},
        files={"document": (name, content)},
    )


def _error(body: JsonDict) -> tuple[object, object]:
    assert body["ok"] is False
    return body["error_code"], body["description"]


def test_get_me_answers_get_and_post(standin: BotApiStandin) -> None:
    got = requests.get(f"{standin.url}/bot{TOKEN}/getme", timeout=5).json()
    assert got == _call(standin, "getMe")
    assert got["result"]["id"] == 123456
    assert got["result"]["is_bot"] is True


def test_unknown_token_method_and_path(standin: BotApiStandin) -> None:
    assert _error(_call(standin, "getMe", token="1:nope")) == (401, "Unauthorized")
    assert _error(_call(standin, "sendSticker")) == (404, "Not Found")
    page = requests.get(f"{standin.url}/nothing/here", timeout=5)
    assert page.status_code == 404
    assert page.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


def test_send_document_answers_a_message(standin: BotApiStandin) -> None:
    first = _upload(standin, b"abc", "db.000", caption="part 1")["result"]
    assert isinstance(first, dict)
    assert first["message_id"] == 1
    assert first["chat"] == {"id": CHAT, "title": f"Backups {CHAT}", "type": "supergroup"}
    assert first["caption"] == "part 1"
    assert isinstance(first["date"], int)
    document = first["document"]
    assert isinstance(document, dict)
    assert document["file_name"] == "db.000"
    assert document["file_size"] == 3
    assert document["mime_type"] == "application/octet-stream"
    second = _upload(standin, b"abc")["result"]
    assert isinstance(second, dict)
    assert second["message_id"] == 2
    other = _call(
        standin,
        "sendMessage",
        json={"chat_id": FORUM_CHAT, "text": "hi", "message_thread_id": TOPIC},
    )["result"]
    assert isinstance(other, dict)
    assert (other["message_id"], other["message_thread_id"]) == (1, TOPIC)


def test_files_are_stored_by_content(standin: BotApiStandin) -> None:
    one = _upload(standin, b"same bytes")["result"]["document"]
    two = _upload(standin, b"same bytes")["result"]["document"]
    assert one["file_unique_id"] == two["file_unique_id"]
    assert one["file_id"] != two["file_id"]
    paths = {
        _call(standin, "getFile", json={"file_id": f["file_id"]})["result"]["file_path"]
        for f in (one, two)
    }
    [path] = paths
    download = requests.get(f"{standin.url}/file/bot{TOKEN}/{path}", timeout=5)
    assert download.content == b"same bytes"
    digest = hashlib.sha256(b"same bytes").hexdigest()
    assert (standin.data_dir / "files" / digest).read_bytes() == b"same bytes"


@pytest.mark.parametrize(
    ("fields", "content", "description"),
    [
        ({"chat_id": -100777}, b"x", "Bad Request: chat not found"),
        ({"caption": "c" * 1025}, b"x", "Bad Request: message caption is too long"),
        ({"message_thread_id": 3}, b"x", "Bad Request: message thread not found"),
        ({}, None, "Bad Request: there is no document in the request"),
    ],
)
def test_send_document_refusals(
    standin: BotApiStandin, fields: JsonDict, content: bytes | None, description: str
) -> None:
    files = {"document": ("p", content)} if content is not None else None
    body = _call(standin, "sendDocument", data={"chat_id": CHAT, **fields}, files=files)
    assert _error(body) == (400, description)
    assert standin.messages() == []


def test_caption_of_exactly_1024_characters_is_accepted(standin: BotApiStandin) -> None:
    assert _upload(standin, b"x", caption="c" * 1024)["ok"] is True


def test_migrated_group_answers_with_its_new_id(standin: BotApiStandin) -> None:
    body = _call(standin, "sendMessage", data={"chat_id": OLD_GROUP, "text": "x"})
    assert body == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: group chat was upgraded to a supergroup chat",
        "parameters": {"migrate_to_chat_id": NEW_SUPERGROUP},
    }
    assert _call(standin, "sendMessage", data={"chat_id": NEW_SUPERGROUP, "text": "x"})["ok"]


@pytest.mark.parametrize(
    ("text", "description"),
    [("t" * 4097, "Bad Request: message is too long"), (" ", "Bad Request: message text is empty")],
)
def test_send_message_limits(standin: BotApiStandin, text: str, description: str) -> None:
    assert _error(_call(standin, "sendMessage", data={"chat_id": CHAT, "text": text})) == (
        400,
        description,
    )
    assert _call(standin, "sendMessage", json={"chat_id": CHAT, "text": "t" * 4096})["ok"]


def test_upload_over_50_mb_is_refused_on_its_content_length(standin: BotApiStandin) -> None:
    with socket.create_connection(("127.0.0.1", int(standin.url.rsplit(":", 1)[1])), 5) as sock:
        sock.sendall(
            f"POST /bot{TOKEN}/sendDocument HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/"
            f"form-data; boundary=b\r\nContent-Length: {60 * 1000 * 1000}\r\n\r\n".encode()
        )
        answer = b""
        while not answer.endswith(b"}"):
            chunk = sock.recv(4096)
            assert chunk, answer
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413 Request Entity Too Large\r\n")
    assert answer.endswith(
        b'\r\n\r\n{"ok":false,"error_code":413,"description":"Request Entity Too Large"}'
    )


def test_upload_limit_counts_the_file_not_the_form(standin: BotApiStandin, tmp_path: Path) -> None:
    assert _upload(standin, bytes(50_000_000))["ok"] is True
    assert _error(_upload(standin, bytes(50_000_001))) == (413, "Request Entity Too Large")


def test_get_file_limits(standin: BotApiStandin) -> None:
    fits = _upload(standin, bytes(20_000_000))["result"]["document"]["file_id"]
    big = _upload(standin, bytes(20_000_001))["result"]["document"]["file_id"]
    assert _call(standin, "getFile", data={"file_id": fits})["ok"] is True
    assert _error(_call(standin, "getFile", data={"file_id": big})) == (
        400,
        "Bad Request: file is too big",
    )
    assert _error(_call(standin, "getFile", data={"file_id": "AgADnope"})) == (
        400,
        "Bad Request: invalid file_id",
    )


def test_downloads_need_the_token_and_an_existing_path(standin: BotApiStandin) -> None:
    file_id = _upload(standin, b"x")["result"]["document"]["file_id"]
    path = _call(standin, "getFile", json={"file_id": file_id})["result"]["file_path"]
    assert requests.get(f"{standin.url}/file/bot1:nope/{path}", timeout=5).status_code == 401
    missing = requests.get(f"{standin.url}/file/bot{TOKEN}/documents/none", timeout=5)
    assert missing.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


def test_delete_message_window(standin: BotApiStandin) -> None:
    ids = [
        _call(standin, "sendMessage", data={"chat_id": CHAT, "text": str(n)})["result"][
            "message_id"
        ]
        for n in range(3)
    ]
    delete = {"chat_id": CHAT, "message_id": ids[0]}
    assert _call(standin, "deleteMessage", json=delete) == {"ok": True, "result": True}
    assert _error(_call(standin, "deleteMessage", json=delete)) == (
        400,
        "Bad Request: message to delete not found",
    )
    requests.post(
        f"{standin.url}/_standin/age",
        timeout=5,
        json={"chat_id": CHAT, "message_id": ids[1], "seconds": 48 * 3600 + 1},
    )
    assert _error(
        _call(standin, "deleteMessage", json={"chat_id": CHAT, "message_id": ids[1]})
    ) == (400, "Bad Request: message can't be deleted")
    standin.age_message(CHAT, ids[2], 47 * 3600)
    assert _call(standin, "deleteMessage", json={"chat_id": CHAT, "message_id": ids[2]})["ok"]
    assert [m["deleted"] for m in standin.messages()] == [True, False, True]


def test_forget_removes_a_message_and_its_file(standin: BotApiStandin) -> None:
    sent = _upload(standin, b"part one")["result"]
    kept = _upload(standin, b"part two")["result"]
    forget = {"chat_id": CHAT, "message_id": sent["message_id"]}
    assert requests.post(f"{standin.url}/_standin/forget", json=forget, timeout=5).json() == {
        "ok": True,
        "result": True,
    }
    assert [m["message_id"] for m in standin.messages()] == [kept["message_id"]]
    file_id = sent["document"]["file_id"]
    assert _error(_call(standin, "getFile", data={"file_id": file_id}))[0] == 400
    assert _call(standin, "getFile", data={"file_id": kept["document"]["file_id"]})["ok"]
    assert _error(_call(standin, "deleteMessage", json=forget))[0] == 400
    again = requests.post(f"{standin.url}/_standin/forget", json=forget, timeout=5)
    assert again.status_code == 400
    _upload(standin, b"part three")  # a new file never takes the path of one still stored
    path = _call(standin, "getFile", data={"file_id": kept["document"]["file_id"]})["result"]
    got = requests.get(f"{standin.url}/file/bot{TOKEN}/{path['file_path']}", timeout=5)
    assert got.content == b"part two"


def test_group_rate_limit(tmp_path: Path) -> None:
    now = [1_700_000_000.0]
    with BotApiStandin(
        tokens=[TOKEN], chats=[CHAT, 42], rate_limits=True, clock=lambda: now[0]
    ) as standin:
        for n in range(20):
            assert _call(standin, "sendMessage", data={"chat_id": CHAT, "text": n})["ok"]
        body = _call(standin, "sendMessage", data={"chat_id": CHAT, "text": "over"})
        assert body["parameters"] == {"retry_after": 60}
        assert body["description"] == "Too Many Requests: retry after 60"
        now[0] += 45
        assert _call(standin, "sendMessage", data={"chat_id": CHAT, "text": "x"})["parameters"] == {
            "retry_after": 15
        }
        for n in range(25):
            assert _call(standin, "sendMessage", data={"chat_id": 42, "text": n})["ok"]
        now[0] += 15
        assert _call(standin, "sendMessage", data={"chat_id": CHAT, "text": "x"})["ok"]


def test_command_line_serves_until_sigterm(standin_process: StandinProcess) -> None:
    assert standin_process.banner == f"standin listening on {standin_process.url}"
    me = requests.get(f"{standin_process.url}/bot{TOKEN}/getMe", timeout=5).json()
    assert me["result"]["username"] == "standin_123456_bot"
    standin_process.process.send_signal(signal.SIGTERM)
    assert standin_process.process.wait(timeout=5) == 0
