"""Request parameters the way the Bot API takes them: query string, form, JSON or multipart."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

from standin import multipart
from standin.api import ApiError, JsonObject


def read_params(
    query: str,
    content_type: str,
    stream: multipart.Stream,
    length: int,
    *,
    spool: Path,
    file_limit: int,
) -> tuple[JsonObject, multipart.Upload | None]:
    """The request's parameters, and its uploaded `document` (on disk in `spool`) if any.

    Reads the whole body of `length` bytes from `stream`: a multipart body streams through
    the parser, any other kind (small: JSON or urlencoded) is read at once. BodyCut when
    the client sends less.
    """
    params: JsonObject = dict(urllib.parse.parse_qsl(query))
    kind = content_type.partition(";")[0].strip().lower()
    document: multipart.Upload | None = None
    try:
        if kind == "multipart/form-data":
            boundary = multipart.boundary_of(content_type)
            form = multipart.parse(stream, length, boundary, spool, file_limit=file_limit)
            params.update(form.fields)
            document = form.document
            return params, document
        body = _read(stream, length)
        if kind == "application/json" and body:
            loaded = json.loads(body)
            if not isinstance(loaded, dict):
                raise ValueError("not an object")
            params.update(loaded)
        elif body:
            params.update(urllib.parse.parse_qsl(body.decode("utf-8", errors="replace")))
    except (ValueError, multipart.MultipartError) as exc:
        raise ApiError(400, f"Bad Request: can't parse request: {exc}") from None
    return params, document


def _read(stream: multipart.Stream, length: int) -> bytes:
    body = stream.read(length) if length else b""
    if len(body) < length:
        raise multipart.BodyCut
    return body
