"""A small multipart/form-data parser for bodies already read into memory.

Uploads reach 50 MB, so the body is read once into a bytearray and cut on the boundary with
`find`; file parts are returned as memoryview slices of that buffer (no copy) for the caller to
hash and write to disk.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

_CRLF = b"\r\n"
_HEADER_END = b"\r\n\r\n"
_PARAM = re.compile(r';\s*([A-Za-z0-9_*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data."""


@dataclass(frozen=True)
class Part:
    """One part of a form: a field (filename None) or a file."""

    name: str
    filename: str | None
    content_type: str | None
    data: memoryview

    def text(self) -> str:
        """The part's data decoded as UTF-8 (form fields)."""
        return bytes(self.data).decode("utf-8", errors="replace")


def header_params(value: str) -> tuple[str, dict[str, str]]:
    """Split a header like `form-data; name="x"` into its main value and lower-cased params."""
    main, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for match in _PARAM.finditer(";" + rest):
        key, raw = match.group(1).lower(), match.group(2).strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        if key.endswith("*"):
            # RFC 5987: charset'language'percent-encoded
            charset, _, encoded = raw.partition("'")
            _, _, encoded = encoded.partition("'")
            params[key[:-1]] = urllib.parse.unquote(encoded, encoding=charset or "utf-8")
        else:
            params.setdefault(key, raw)
    return main.strip().lower(), params


def boundary_of(content_type: str) -> bytes:
    """The boundary of a multipart/form-data Content-Type header."""
    main, params = header_params(content_type)
    boundary = params.get("boundary", "")
    if main != "multipart/form-data" or not boundary or len(boundary) > 200:
        raise MultipartError("not multipart/form-data with a boundary")
    return boundary.encode("latin-1")


def _part_headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.decode("utf-8", errors="replace").split("\r\n"):
        name, sep, value = line.partition(":")
        if not sep:
            raise MultipartError(f"malformed part header {line!r}")
        headers[name.strip().lower()] = value.strip()
    return headers


def parse(body: bytearray | bytes, boundary: bytes) -> list[Part]:
    """Split `body` into its parts; file data are zero-copy views of `body`."""
    view = memoryview(body)
    delimiter = b"--" + boundary
    next_delimiter = _CRLF + delimiter
    start = body.find(delimiter)
    if start < 0:
        raise MultipartError("boundary not found")
    pos = start + len(delimiter)
    parts: list[Part] = []
    while True:
        marker = bytes(view[pos : pos + 2])
        if marker == b"--":
            return parts
        if marker != _CRLF:
            raise MultipartError("malformed delimiter line")
        pos += 2
        header_end = body.find(_HEADER_END, pos)
        if header_end < 0:
            raise MultipartError("part headers do not end")
        headers = _part_headers(bytes(view[pos:header_end])) if header_end > pos else {}
        data_start = header_end + len(_HEADER_END)
        data_end = body.find(next_delimiter, data_start)
        if data_end < 0:
            raise MultipartError("closing boundary not found")
        disposition, params = header_params(headers.get("content-disposition", ""))
        if disposition != "form-data" or "name" not in params:
            raise MultipartError("part without a form-data name")
        parts.append(
            Part(
                name=params["name"],
                filename=params.get("filename"),
                content_type=headers.get("content-type"),
                data=view[data_start:data_end],
            )
        )
        pos = data_end + len(next_delimiter)
