"""Request parameters the way the Bot API takes them: query string, form, JSON or multipart."""

from __future__ import annotations

import json
import urllib.parse

from standin import multipart
from standin.api import ApiError, JsonObject


def parse_params(
    query: str, content_type: str, body: bytearray
) -> tuple[JsonObject, multipart.Part | None]:
    """The request's parameters, and its uploaded `document` part if any."""
    params: JsonObject = dict(urllib.parse.parse_qsl(query))
    kind = content_type.partition(";")[0].strip().lower()
    document: multipart.Part | None = None
    try:
        if kind == "multipart/form-data":
            for part in multipart.parse(body, multipart.boundary_of(content_type)):
                if part.filename is None:
                    params[part.name] = part.text()
                elif part.name == "document":
                    document = part
        elif kind == "application/json" and body:
            loaded = json.loads(body)
            if not isinstance(loaded, dict):
                raise ValueError("not an object")
            params.update(loaded)
        elif body:
            params.update(urllib.parse.parse_qsl(body.decode("utf-8", errors="replace")))
    except (ValueError, multipart.MultipartError) as exc:
        raise ApiError(400, f"Bad Request: can't parse request: {exc}") from None
    return params, document
