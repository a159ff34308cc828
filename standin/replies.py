"""Canned answers: Telegram's error envelopes and the injected faults' responses."""

from __future__ import annotations

import http
import json
from dataclasses import dataclass

from standin.api import ApiError, JsonObject
from standin.faults import Fault

_NGINX = (
    "<html>\r\n<head><title>{code} {phrase}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {phrase}</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was kicked from the supergroup chat",
    404: "Not Found",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
}


@dataclass(frozen=True)
class Reply:
    """A complete HTTP answer."""

    status: int
    body: bytes
    content_type: str


def json_reply(status: int, payload: object) -> Reply:
    """An application/json answer."""
    # Compact like Telegram's own answers.
    return Reply(status, json.dumps(payload, separators=(",", ":")).encode(), "application/json")


def envelope(status: int, retry_after: int | None = None) -> JsonObject:
    """Telegram's error body for `status` (429 with retry_after when given)."""
    if status == 429:
        if retry_after is None:
            return ApiError(429, "Too Many Requests").envelope()
        return ApiError(
            429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
        ).envelope()
    return ApiError(status, _DESCRIPTIONS.get(status, http.HTTPStatus(status).phrase)).envelope()


def fault_reply(fault: Fault) -> Reply | None:
    """The answer an injected fault gives; None means drop the connection unanswered."""
    if fault.kind == "drop":
        return None
    if fault.kind == "200-html":
        return Reply(200, b"<html><body>Welcome to nginx!</body></html>", "text/html")
    if fault.kind == "200-false":
        return json_reply(200, {"ok": False})
    if fault.status in (502, 503, 504):
        phrase = http.HTTPStatus(fault.status).phrase
        return Reply(
            fault.status, _NGINX.format(code=fault.status, phrase=phrase).encode(), "text/html"
        )
    return json_reply(fault.status, envelope(fault.status, fault.retry_after))
