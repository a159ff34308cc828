"""Several bots in one stand-in: their own ids, and file_ids that only work for their own bot."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from standin.server import BotApiStandin

BOT, OTHER_BOT = "111111:first-secret", "222222:second-secret"
GROUP = -1001


@pytest.fixture
def standin() -> Iterator[BotApiStandin]:
    with BotApiStandin(tokens=[BOT, OTHER_BOT], chats=[GROUP]) as server:
        yield server


def _call(
    standin: BotApiStandin, token: str, method: str, upload: bytes | None = None, **data: object
) -> dict[str, object]:
    files = None if upload is None else {"document": ("part.bin", upload)}
    response = requests.post(
        f"{standin.url}/bot{token}/{method}", data=data, files=files, timeout=10
    )
    body: dict[str, object] = response.json()
    return body


def _result(body: dict[str, object]) -> dict[str, object]:
    assert body["ok"] is True, body
    result = body["result"]
    assert isinstance(result, dict)
    return result


def _file_id(standin: BotApiStandin, token: str) -> str:
    sent = _result(_call(standin, token, "sendDocument", chat_id=GROUP, upload=b"part"))
    document = sent["document"]
    assert isinstance(document, dict)
    return str(document["file_id"])


def test_each_token_is_a_bot_of_its_own(standin: BotApiStandin) -> None:
    first = _result(_call(standin, BOT, "getMe"))
    second = _result(_call(standin, OTHER_BOT, "getMe"))
    assert (first["id"], second["id"]) == (111111, 222222)
    sent = _result(_call(standin, OTHER_BOT, "sendMessage", chat_id=GROUP, text="hi"))
    assert sent["from"] == {
        "id": 222222,
        "is_bot": True,
        "first_name": "Backup Stand-in",
        "username": "standin_222222_bot",
    }
    assert [m["bot_id"] for m in standin.messages()] == [222222]
    assert [e["bot_id"] for e in standin.requests()] == [111111, 222222, 222222]


def test_two_tokens_of_one_bot_are_refused() -> None:
    with pytest.raises(ValueError, match="same bot"):
        BotApiStandin(tokens=["111111:one", "111111:two"], chats=[GROUP])


def test_a_file_id_works_for_the_bot_that_received_it_only(standin: BotApiStandin) -> None:
    file_id = _file_id(standin, BOT)
    assert _result(_call(standin, BOT, "getFile", file_id=file_id))["file_size"] == 4
    refused = _call(standin, OTHER_BOT, "getFile", file_id=file_id)
    assert (refused["error_code"], refused["description"]) == (
        400,
        "Bad Request: wrong file identifier/HTTP URL specified",
    )
    resent = _call(standin, OTHER_BOT, "sendDocument", chat_id=GROUP, document=file_id)
    assert resent["description"] == "Bad Request: wrong file identifier/HTTP URL specified"
    assert _call(standin, BOT, "sendDocument", chat_id=GROUP, document=file_id)["ok"] is True


def test_the_same_content_from_two_bots_gets_a_file_id_each(standin: BotApiStandin) -> None:
    first, second = _file_id(standin, BOT), _file_id(standin, OTHER_BOT)
    assert first != second
    assert _result(_call(standin, OTHER_BOT, "getFile", file_id=second))["file_size"] == 4
    unknown = _call(standin, OTHER_BOT, "getFile", file_id="BQACAgIAAxkDAAIunknown")
    assert unknown["description"] == "Bad Request: invalid file_id"
