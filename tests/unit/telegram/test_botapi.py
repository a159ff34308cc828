"""check_response, network_error and redact: every kind of answer onto the exception tree."""

from __future__ import annotations

import http
import json
import logging

import pytest
import requests

from tests.unit.conftest import TOKEN
from worker import errors, redact
from worker.telegram import answers

SECRET = TOKEN.split(":")[1]


def _answer(status: int, body: object, content_type: str = "application/json") -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.reason = http.HTTPStatus(status).phrase
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response._content = raw
    response.headers["Content-Type"] = content_type
    response.encoding = "utf-8"
    return response


def _error(status: int, description: str, **parameters: object) -> requests.Response:
    body: dict[str, object] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return _answer(status, body)


@pytest.mark.parametrize("result", [True, None, [], {"id": 1}, 0])
def test_ok_answers_give_their_result(result: object) -> None:
    answer = _answer(200, {"ok": True, "result": result})
    assert answers.check_response("getMe", answer, TOKEN) == result


def test_retry_after_wins_over_the_status() -> None:
    answer = _error(429, "Too Many Requests: retry after 34", retry_after=34)
    with pytest.raises(errors.TelegramRetryAfter) as caught:
        answers.check_response("sendDocument", answer, TOKEN)
    assert caught.value.retry_after == 34.0
    assert caught.value.status == 429
    assert str(caught.value) == (
        "sendDocument: Telegram flood control (429 Too Many Requests: retry after 34)"
    )


def test_migrate_to_chat_id_names_the_new_chat() -> None:
    answer = _error(
        400, "Bad Request: group chat was upgraded to a supergroup chat", migrate_to_chat_id=-1007
    )
    with pytest.raises(errors.TelegramMigrateToChat) as caught:
        answers.check_response("sendMessage", answer, TOKEN, chat_id=-42)
    assert caught.value.new_chat_id == -1007
    assert str(caught.value) == (
        "sendMessage: chat -42 was upgraded to a supergroup with id -1007 (400): "
        "set TELEGRAM_CHAT_ID=-1007"
    )


@pytest.mark.parametrize(
    ("status", "description", "error"),
    [
        (400, "Bad Request: chat not found", errors.TelegramBadRequest),
        (401, "Unauthorized", errors.TelegramUnauthorized),
        (403, "Forbidden: bot is not a member of the channel chat", errors.TelegramForbidden),
        (404, "Not Found", errors.TelegramNotFound),
        (409, "Conflict: terminated by other getUpdates request", errors.TelegramBadRequest),
        (413, "Request Entity Too Large", errors.TelegramEntityTooLarge),
        (429, "Too Many Requests", errors.TelegramRetryAfter),
        (500, "Internal Server Error", errors.TelegramServerError),
        (502, "Bad Gateway", errors.TelegramServerError),
    ],
)
def test_errors_map_by_http_status(
    status: int, description: str, error: type[errors.TelegramError]
) -> None:
    with pytest.raises(error) as caught:
        answers.check_response("sendDocument", _error(status, description), TOKEN)
    assert type(caught.value) is error
    assert caught.value.status == status
    assert caught.value.method == "sendDocument"


def test_flood_control_without_retry_after_waits_the_default() -> None:
    with pytest.raises(errors.TelegramRetryAfter) as caught:
        answers.check_response("getMe", _answer(429, b"slow down", "text/plain"), TOKEN)
    assert caught.value.retry_after == answers.DEFAULT_RETRY_AFTER


def test_an_html_bad_gateway_is_a_server_error() -> None:
    page = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    with pytest.raises(errors.TelegramServerError) as caught:
        answers.check_response("sendDocument", _answer(502, page, "text/html"), TOKEN)
    assert str(caught.value) == (
        "sendDocument: the Bot API answered 502 with a body that is not the Bot API's JSON "
        "(a proxy in front of it?): Bad Gateway, body: '502 Bad Gateway'"
    )


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (413, errors.TelegramEntityTooLarge),
        (401, errors.TelegramUnauthorized),
        (400, errors.TelegramBadRequest),
        (418, errors.TelegramBadRequest),
    ],
)
def test_html_rejections_map_by_status(status: int, error: type[errors.TelegramError]) -> None:
    page = f"<html><title>{status}</title></html>".encode()
    with pytest.raises(error):
        answers.check_response("sendDocument", _answer(status, page, "text/html"), TOKEN)


@pytest.mark.parametrize(
    "answer",
    [
        _answer(200, b"<html>Welcome to nginx!</html>", "text/html"),
        _answer(200, b""),
        _answer(200, [1, 2]),
        _answer(200, {"ok": False}),
        _answer(200, {"ok": True}),
        _answer(200, {"result": 1}),
        _answer(302, b"<html>Moved</html>", "text/html"),
    ],
)
def test_a_200_that_is_not_a_bot_api_answer_is_a_server_error(answer: requests.Response) -> None:
    with pytest.raises(errors.TelegramServerError):
        answers.check_response("getFile", answer, TOKEN)


def test_descriptions_and_bodies_are_redacted() -> None:
    echoed = _error(400, f"Bad Request: no such URL /bot{TOKEN}/x")
    with pytest.raises(errors.TelegramBadRequest) as caught:
        answers.check_response("getMe", echoed, TOKEN)
    assert SECRET not in str(caught.value)
    page = f"<html>cannot proxy https://api.telegram.org/bot{TOKEN}/getMe</html>".encode()
    with pytest.raises(errors.TelegramServerError) as server:
        answers.check_response("getMe", _answer(504, page, "text/html"), TOKEN)
    assert SECRET not in str(server.value)
    assert "bot<redacted>/getMe" in str(server.value)


def test_redact_covers_every_form_of_a_token() -> None:
    other = "987654321:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    text = (
        f"/bot{TOKEN}/sendDocument and {TOKEN} and 123456%3A{SECRET} "
        f"and /file/bot{other}/documents/x and {other}"
    )
    cleaned = redact.redact(text, TOKEN)
    assert SECRET not in cleaned
    assert other.split(":")[1] not in cleaned
    assert cleaned.startswith("/bot<redacted>/sendDocument and <redacted> and <redacted> ")
    assert "/file/bot<redacted>/documents/x" in cleaned
    assert redact.redact("chat -1001234567890 at 12:30", "") == "chat -1001234567890 at 12:30"


@pytest.mark.parametrize(
    ("exc", "error", "phrase"),
    [
        (requests.exceptions.ConnectTimeout, errors.TelegramNetworkError, "could not connect"),
        (requests.exceptions.ReadTimeout, errors.TelegramNetworkError, "did not answer in time"),
        (requests.exceptions.ConnectionError, errors.TelegramNetworkError, "connection to the"),
        (requests.exceptions.ChunkedEncodingError, errors.TelegramNetworkError, "broke off"),
        (requests.exceptions.InvalidURL, errors.TelegramNotFound, "check TELEGRAM_API_URL"),
    ],
)
def test_network_failures_are_translated_without_the_url(
    exc: type[requests.RequestException], error: type[errors.TelegramError], phrase: str
) -> None:
    original = exc(f"HTTPSConnectionPool: Max retries exceeded with url: /bot{TOKEN}/getMe")
    translated = answers.network_error("getMe", original, TOKEN)
    assert type(translated) is error
    assert phrase in str(translated)
    assert SECRET not in str(translated)
    assert SECRET not in repr(translated)
    assert translated.__cause__ is None
    assert translated.__context__ is None


def test_the_log_filter_redacts_formatted_records() -> None:
    record = logging.LogRecord(
        "urllib3.connectionpool",
        logging.DEBUG,
        __file__,
        1,
        '"%s %s"',
        ("GET", f"/bot{TOKEN}/x"),
        None,
    )
    assert redact.RedactingFilter().filter(record)
    assert record.getMessage() == '"GET /bot<redacted>/x"'
