"""Bot API results read by the pydantic models: big sizes, unknown fields, malformed answers."""

from __future__ import annotations

import pytest

from worker import errors
from worker.telegram import results

MESSAGE = {
    "message_id": 7,
    "date": 1700000000,
    "chat": {"id": -1001234567890, "type": "supergroup", "title": "backups"},
    "document": {
        "file_id": "BQACAgIAAxkDAAI",
        "file_unique_id": "AgAD",
        "file_size": 5_000_000_000,
        "file_name": "proj.dump.zst.part001",
        "thumbnail": {"file_id": "x"},
    },
    "has_protected_content": True,
}


def test_a_sent_document_is_read_with_a_size_beyond_2_to_the_31() -> None:
    sent = results.sent_document(MESSAGE, None)
    assert sent.file_size == 5_000_000_000
    assert (sent.message_id, sent.chat_id, sent.date) == (7, -1001234567890, 1700000000)
    assert sent.file_name == "proj.dump.zst.part001"


def test_an_upload_filed_under_another_kind_is_still_found() -> None:
    message = {**MESSAGE, "video": MESSAGE["document"]}
    del message["document"]
    assert results.sent_document(message, -100).migrated_to_chat_id == -100


def test_get_file_and_get_me_ignore_unknown_fields() -> None:
    found = results.telegram_file(
        {"file_id": "F", "file_unique_id": "U", "file_size": 2**40, "file_path": "documents/x"}
        | {"new_field": 1}
    )
    assert found == results.TelegramFile("F", "U", 2**40, "documents/x")
    me = results.bot_user({"id": 42, "is_bot": True, "first_name": "Backups"})
    assert (me.id, me.username, me.first_name) == (42, None, "Backups")


@pytest.mark.parametrize(
    ("result", "phrase"),
    [
        (None, "the result: not an object"),
        ({**MESSAGE, "message_id": "7"}, "message_id: input should be a valid integer"),
        ({**MESSAGE, "message_id": True}, "message_id: input should be a valid integer"),
        ({**MESSAGE, "chat": []}, "chat: not an object"),
        ({k: v for k, v in MESSAGE.items() if k != "document"}, "carries no document"),
        ({**MESSAGE, "document": {"file_id": ""}}, "document.file_id: string should have"),
    ],
)
def test_a_malformed_answer_is_a_server_error_that_names_the_field(
    result: object, phrase: str
) -> None:
    with pytest.raises(errors.TelegramServerError) as caught:
        results.sent_document(result, None)
    assert str(caught.value).startswith("sendDocument: the Bot API's answer is malformed: ")
    assert phrase in str(caught.value)
