"""Bot API answers and failures mapped onto the exception tree, with the bot token redacted.

`check_response` is the one place that turns an HTTP answer into a result or an exception;
`network_error` does the same for a `requests` exception. Both write messages for the operator
and never let the token (which sits in every Bot API URL) into them. `follow_migration` answers
the one failure a call recovers from by itself: a group that became a supergroup.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from worker import errors
from worker.redact import redact

if TYPE_CHECKING:
    # Imported where it is used: requests costs ~30 ms to import, and the CLI's enqueue path
    # must not pay for it.
    import requests

# Logged under the client's name: operators filter on "worker.telegram.client".
log = logging.getLogger("worker.telegram.client")
DEFAULT_RETRY_AFTER = 5.0  # seconds to wait on a 429 that carries no retry_after
_SNIPPET = 160  # characters of a non-JSON body quoted in a message
_TITLE = re.compile(r"<title>\s*(.*?)\s*</title>", re.IGNORECASE | re.DOTALL)

# Descriptions Telegram uses, and what the operator should do about them; {chat} is filled in.
_HINTS_400 = (
    (
        "chat not found",
        "{chat} not found (400): check TELEGRAM_CHAT_ID and that the bot is a member",
    ),
    ("message caption is too long", "caption is too long (400): Telegram allows 1024 characters"),
    ("message is too long", "message text is too long (400): Telegram allows 4096 characters"),
    ("message text is empty", "message text is empty (400)"),
    (
        "message thread not found",
        "forum topic not found in {chat} (400): check TELEGRAM_THREAD_ID and that the chat "
        "is a forum",
    ),
    ("there is no document in the request", "the request carried no document (400)"),
    (
        "file is too big",
        "file is too big to download through the Bot API (400): the cloud Bot API serves "
        "files up to 20 MB; keep BACKUP_PART_SIZE at 20000000 or use a local Bot API server",
    ),
    ("invalid file_id", "the file id is not valid for this bot (400)"),
    ("wrong file identifier", "the file id is not valid for this bot (400)"),
    (
        "message to delete not found",
        "message not found in {chat} (400): it was already deleted or never existed",
    ),
    (
        "message can't be deleted",
        "Telegram refuses to delete the message (400): a bot deletes its messages only within "
        "48 hours unless it is an admin with can_delete_messages",
    ),
)


def _chat_label(chat_id: int | str | None) -> str:
    return "the chat" if chat_id is None else f"chat {chat_id}"


def _rejection(
    method: str, status: int, description: str, chat_id: int | str | None
) -> errors.TelegramError:
    """The exception for an error status, once retry_after and migration are ruled out."""
    chat = _chat_label(chat_id)
    if status == 400:
        lowered = description.lower()
        for needle, hint in _HINTS_400:
            if needle in lowered:
                return errors.TelegramBadRequest(
                    f"{method}: " + hint.format(chat=chat), status=400, method=method
                )
        return errors.TelegramBadRequest(
            f"{method}: Telegram rejected the request (400 {description})",
            status=400,
            method=method,
        )
    if status == 401:
        return errors.TelegramUnauthorized(
            f"{method}: Telegram rejected the bot token (401 Unauthorized): "
            "check TELEGRAM_BOT_TOKEN",
            status=401,
            method=method,
        )
    if status == 403:
        return errors.TelegramForbidden(
            f"{method}: the bot may not post in {chat} (403 {description}): "
            "add the bot to the chat and allow it to post",
            status=403,
            method=method,
        )
    if status == 404 and method == "download":
        return errors.TelegramNotFound(
            "download: the Bot API has no such file (404 Not Found): the path from getFile "
            "may have expired (call getFile again), or TELEGRAM_API_URL is wrong",
            status=404,
            method=method,
        )
    if status == 404:
        return errors.TelegramNotFound(
            f"{method}: the Bot API answered 404 Not Found: check TELEGRAM_API_URL and the "
            "format of TELEGRAM_BOT_TOKEN",
            status=404,
            method=method,
        )
    if status == 413:
        return errors.TelegramEntityTooLarge(
            f"{method}: the file is larger than the Bot API accepts (413 Request Entity Too "
            "Large): lower BACKUP_PART_SIZE (the cloud Bot API takes at most 50 MB)",
            status=413,
            method=method,
        )
    if status == 429:
        return errors.TelegramRetryAfter(
            f"{method}: Telegram flood control (429 {description})",
            retry_after=DEFAULT_RETRY_AFTER,
            method=method,
        )
    if 400 <= status < 500:
        return errors.TelegramBadRequest(
            f"{method}: Telegram rejected the request ({status} {description})",
            status=status,
            method=method,
        )
    return errors.TelegramServerError(
        f"{method}: the Bot API failed ({status} {description})", status=status, method=method
    )


def _non_json(method: str, response: requests.Response, token: str) -> errors.TelegramError:
    status = response.status_code
    text = response.text
    title = _TITLE.search(text)
    snippet = title.group(1) if title else " ".join(text.split())[:_SNIPPET]
    what = f"{response.reason or 'no reason'}, body: {snippet!r}"
    if status >= 500 or status < 400:
        return errors.TelegramServerError(
            f"{method}: the Bot API answered {status} with a body that is not the Bot API's JSON "
            f"(a proxy in front of it?): {redact(what, token)}",
            status=status,
            method=method,
        )
    return _rejection(method, status, redact(what, token), None)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def check_response(
    method: str, response: requests.Response, token: str, *, chat_id: int | str | None = None
) -> object:
    """The `result` of a successful answer; otherwise raise the matching TelegramError."""
    status = response.status_code
    try:
        payload: object = response.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict) or not isinstance(payload.get("ok"), bool):
        raise _non_json(method, response, token)
    if payload["ok"]:
        if status == 200 and "result" in payload:
            return payload["result"]
        raise errors.TelegramServerError(
            f"{method}: the Bot API answered {status} with ok:true but no usable result",
            status=status,
            method=method,
        )
    description = redact(str(payload.get("description") or "no description"), token)
    parameters = payload.get("parameters")
    parameters = parameters if isinstance(parameters, dict) else {}
    retry_after = _number(parameters.get("retry_after"))
    if retry_after is not None:
        raise errors.TelegramRetryAfter(
            f"{method}: Telegram flood control ({status} {description})",
            retry_after=max(retry_after, 0.0),
            method=method,
        )
    new_chat = parameters.get("migrate_to_chat_id")
    if isinstance(new_chat, int) and not isinstance(new_chat, bool):
        raise errors.TelegramMigrateToChat(
            f"{method}: {_chat_label(chat_id)} was upgraded to a supergroup with id "
            f"{new_chat} (400): set TELEGRAM_CHAT_ID={new_chat}",
            new_chat_id=new_chat,
            method=method,
        )
    if status == 200:
        raise errors.TelegramServerError(
            f"{method}: the Bot API answered 200 with ok:false ({description})",
            status=status,
            method=method,
        )
    raise _rejection(method, status, description, chat_id)


def network_error(method: str, exc: requests.RequestException, token: str) -> errors.TelegramError:
    """The TelegramError for a `requests` failure; raise it outside the `except` block.

    The requests exception's text holds the URL, hence the token: the caller raises the result
    outside its `except` so that neither __cause__ nor __context__ keeps the original.
    """
    import requests

    detail = redact(f"{type(exc).__name__}: {exc}", token)[:400]
    invalid_url = (
        requests.exceptions.InvalidURL,
        requests.exceptions.MissingSchema,
        requests.exceptions.InvalidSchema,
        requests.exceptions.URLRequired,
    )
    if isinstance(exc, invalid_url):
        return errors.TelegramNotFound(
            f"{method}: the Bot API URL is not usable ({detail}): check TELEGRAM_API_URL",
            method=method,
        )
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        what = "could not connect to the Bot API in time"
    elif isinstance(exc, requests.exceptions.Timeout):
        what = "the Bot API did not answer in time"
    elif isinstance(exc, requests.exceptions.ChunkedEncodingError):
        what = "the connection broke off in the middle of the answer"
    elif isinstance(exc, requests.exceptions.ConnectionError):
        what = "the connection to the Bot API failed"
    else:
        what = "the request to the Bot API failed"
    return errors.TelegramNetworkError(f"{method}: {what} ({detail})", method=method)


def follow_migration(
    method: str, chat_id: int | str, send: Callable[[int | str], object]
) -> tuple[object, int | None]:
    """`send(chat_id)`; when Telegram says the group became a supergroup, `send` to that one.

    Returns the result and the new chat id (None when the chat did not move). The operator is
    told, in the log, to set the new id.
    """
    try:
        return send(chat_id), None
    except errors.TelegramMigrateToChat as exc:
        new_chat_id = exc.new_chat_id
    log.warning(
        "%s: chat %s was upgraded to a supergroup with id %d; sending there. "
        "Set TELEGRAM_CHAT_ID=%d",
        method,
        chat_id,
        new_chat_id,
        new_chat_id,
    )
    return send(new_chat_id), new_chat_id
