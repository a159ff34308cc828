"""multipart/form-data read as a stream: the `document` file goes to disk as it arrives.

python-multipart's MultipartParser finds the boundaries in each chunk read from the socket;
the callbacks here collect the (small) form fields in memory and write the document part
to a temporary file in the store's directory, hashing it on the way, so a 50 MB upload never
sits in memory. Past `file_limit` bytes the document is no longer written, only counted: the
caller answers 413 like Telegram. Part headers are read here (`header_params`), since
python-multipart drops the RFC 5987 `filename*=` form that some clients send.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

_PARAM = re.compile(r';\s*([A-Za-z0-9_*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
CHUNK = 1 << 20  # bytes read from the socket at a time
FIELD_LIMIT = 1 << 20  # bytes of one form field (captions are 1024 characters)
DOCUMENT = "document"  # the one file part the Bot API methods here take


class Stream(Protocol):
    """What the body is read from: the request's socket file, or bytes in a test."""

    def read(self, size: int, /) -> bytes:
        """Up to `size` bytes; b"" at the end."""
        ...


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data."""


class BodyCut(Exception):
    """The client sent less than its Content-Length: it went away."""


@dataclass
class Upload:
    """The document part, on disk at `path` unless it outgrew the limit (then only counted)."""

    filename: str
    content_type: str | None
    path: Path
    size: int = 0
    sha256: str = ""

    def discard(self) -> None:
        """Remove the temporary file (if the store did not take it)."""
        self.path.unlink(missing_ok=True)


@dataclass
class Form:
    """A parsed form: its text fields and its document, if one was uploaded."""

    fields: dict[str, str] = field(default_factory=dict)
    document: Upload | None = None


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


class _Reader:
    """The parser's callbacks: where each part's headers and data go."""

    def __init__(self, spool: Path, file_limit: int) -> None:
        self.spool = spool
        self.file_limit = file_limit
        self.form = Form()
        self.ended = False
        self._headers: dict[str, str] = {}
        self._name = self._value = b""
        self._field: bytearray | None = None
        self._field_name = ""
        self._upload: Upload | None = None
        self._sink: BinaryIO | None = None
        self._hash = hashlib.sha256()

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._add("_name", data[start:end]),
            "on_header_value": lambda data, start, end: self._add("_value", data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _add(self, attribute: str, data: bytes) -> None:
        setattr(self, attribute, getattr(self, attribute) + data)

    def _part_begin(self) -> None:
        self._headers, self._field, self._upload = {}, None, None

    def _header_end(self) -> None:
        name = self._name.decode("utf-8", errors="replace").strip().lower()
        self._headers[name] = self._value.decode("utf-8", errors="replace").strip()
        self._name = self._value = b""

    def _headers_finished(self) -> None:
        disposition, params = header_params(self._headers.get("content-disposition", ""))
        if disposition != "form-data" or "name" not in params:
            raise MultipartError("part without a form-data name")
        name = params["name"]
        if "filename" not in params:
            self._field = bytearray()
            self._field_name = name
        elif name == DOCUMENT:
            # Named like the store's own partial files, so a crash leaves nothing it reads.
            path = self.spool / f".upload.{secrets.token_hex(8)}.part"
            self._upload = Upload(params["filename"], self._headers.get("content-type"), path)
            self._sink = path.open("wb")
            self._hash = hashlib.sha256()
        # Other file parts (a thumbnail) are read past and not kept.

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._field is not None:
            if len(self._field) + end - start > FIELD_LIMIT:
                raise MultipartError(f"form field {self._field_name!r} is too long")
            self._field += data[start:end]
        elif self._upload is not None and self._sink is not None:
            self._upload.size += end - start
            if self._upload.size <= self.file_limit:
                self._sink.write(data[start:end])
                self._hash.update(data[start:end])
            else:
                self._close_sink()  # too large: counted on, answered 413 by the caller
                self._upload.discard()

    def _part_end(self) -> None:
        if self._field is not None:
            self.form.fields[self._field_name] = self._field.decode("utf-8", errors="replace")
        elif self._upload is not None:
            self._close_sink()
            self._upload.sha256 = self._hash.hexdigest()
            if self.form.document is not None:
                self.form.document.discard()
            self.form.document = self._upload
        self._field, self._upload = None, None

    def _end(self) -> None:
        self.ended = True

    def _close_sink(self) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None

    def abandon(self) -> None:
        """Remove what was written: the request failed."""
        self._close_sink()
        for upload in (self._upload, self.form.document):
            if upload is not None:
                upload.discard()


def parse(stream: Stream, length: int, boundary: bytes, spool: Path, *, file_limit: int) -> Form:
    """Read `length` bytes of multipart body from `stream`, the document into `spool`.

    MultipartError for a malformed body, BodyCut when the stream ends early; either way no
    temporary file is left behind.
    """
    reader = _Reader(spool, file_limit)
    parser = MultipartParser(boundary, reader.callbacks())
    error: MultipartError | None = None
    remaining = length
    try:
        while remaining > 0:
            chunk = stream.read(min(remaining, CHUNK))
            if not chunk:
                raise BodyCut
            remaining -= len(chunk)
            if error is not None:
                continue  # read to the end all the same: the connection stays usable
            try:
                parser.write(chunk)
            except MultipartParseError as exc:
                error = MultipartError(str(exc))
            except MultipartError as exc:
                error = exc
        if error is None and not reader.ended:
            error = MultipartError("closing boundary not found")
    except BaseException:
        reader.abandon()
        raise
    if error is not None:
        reader.abandon()
        raise error
    return reader.form
