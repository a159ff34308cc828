"""The HTTP side of the stand-in: routing, body reading, faults, answers and file downloads."""

from __future__ import annotations

import contextlib
import http
import json
import re
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING

from standin import forms, lies, multipart, replies
from standin.api import ApiError, JsonObject, bot_id
from standin.faults import LIES, Fault
from standin.replies import Reply

if TYPE_CHECKING:
    # Only for the annotation: the server module imports this one for its handler class.
    from standin.httpserver import StandinHTTPServer

_API = re.compile(r"^/bot([^/]+)/([A-Za-z0-9_]+)/?$")
_FILE = re.compile(r"^/file/bot([^/]+)/(.+)$")
_DRAIN_CHUNK = 1 << 20
# A body this much over the file limit cannot hold an acceptable file, whatever its form fields.
_MULTIPART_ALLOWANCE = 64 * 1024
_ANSWERED = frozenset({"cut", "delay", *LIES})  # faults that still answer the request


def _chat_of(params: JsonObject) -> object:
    value = params.get("chat_id")
    try:
        return int(str(value))
    except ValueError:
        return value


class Handler(BaseHTTPRequestHandler):
    """One connection; HTTP/1.1 keep-alive like Telegram's front end."""

    protocol_version = "HTTP/1.1"
    server_version = "nginx/1.18.0"
    sys_version = ""
    timeout = 120
    # A download's headers and body are separate writes: Nagle plus delayed ACKs would add 40 ms.
    disable_nagle_algorithm = True
    server: StandinHTTPServer

    def setup(self) -> None:
        """The connection's files, through the link when there is one."""
        super().setup()
        if self.server.shaper is not None:
            self.rfile, self.wfile = self.server.shaper.wrap(self.rfile, self.wfile)  # type: ignore[assignment]

    def version_string(self) -> str:
        """The Server header Telegram's front end sends."""
        return self.server_version

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the request log at /_standin/requests replaces the access log."""

    def do_GET(self) -> None:
        """Route a GET."""
        self._route()

    def do_POST(self) -> None:
        """Route a POST."""
        self._route()

    def _route(self) -> None:
        if self.server.shaper is not None:
            self.server.shaper.round_trip()
        split = urllib.parse.urlsplit(self.path)
        if split.path.startswith("/_standin/"):
            self._control(split.path.removeprefix("/_standin/"))
        elif match := _FILE.match(split.path):
            self._download(match.group(1), urllib.parse.unquote(match.group(2)))
        elif match := _API.match(split.path):
            self._api(match.group(1), match.group(2), split.query)
        else:
            self._drain(self._length())
            self._send(replies.json_reply(404, replies.envelope(404)))

    def _length(self) -> int:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            return 0
        try:
            return max(0, int(self.headers.get("Content-Length", "0")))
        except ValueError:
            return 0

    def _read_body(self, length: int) -> bytearray | None:
        body = bytearray(length)
        view = memoryview(body)
        done = 0
        while done < length:
            count = self.rfile.readinto(view[done:])
            if not count:
                return None
            done += count
        return body

    def _drain(self, length: int) -> None:
        # Like nginx's lingering close: read what the client sends so it sees our answer.
        while length > 0:
            chunk = self.rfile.read(min(length, _DRAIN_CHUNK))
            if not chunk:
                self.close_connection = True
                return
            length -= len(chunk)

    def _send(self, reply: Reply, *, cut: bool = False, close: bool = False) -> None:
        phrase = http.HTTPStatus(reply.status).phrase
        head = [
            f"{self.protocol_version} {reply.status} {phrase}",
            f"Server: {self.version_string()}",
            f"Date: {self.date_time_string()}",
            f"Content-Type: {reply.content_type}",
            f"Content-Length: {len(reply.body)}",
        ]
        if close:
            head.append("Connection: close")
        # One write for headers and body: a small answer leaves in one segment.
        body = reply.body[: len(reply.body) // 2] if cut else reply.body
        self.wfile.write("\r\n".join([*head, "", ""]).encode("latin-1") + body)
        self.close_connection = self.close_connection or close or cut

    def _finish(
        self, entry: JsonObject, reply: Reply | None, *, cut: bool = False, close: bool = False
    ) -> None:
        """Log the request, then answer (None: drop the connection unanswered).

        Logging first means a client that has its answer always finds the request in the log.
        """
        entry["status"] = reply.status if reply is not None else None
        entry["duration"] = round(time.time() - float(str(entry["time"])), 4)
        self.server.record(entry)
        if reply is None:
            self.close_connection = True
        else:
            self._send(reply, cut=cut, close=close)

    def _entry(self, method: str, length: int, fault: Fault | None) -> JsonObject:
        return {
            "method": method,
            "bytes": length,
            "chat_id": None,
            "fault": fault.word if fault else None,
            "time": time.time(),
        }

    def _api(self, token: str, method: str, query: str) -> None:
        length = self._length()
        fault = self.server.faults.take(method)
        entry = self._entry(method, length, fault)
        known = token in self.server.api.config.tokens
        entry["bot_id"] = bot_id(token) if known else None
        if length > self.server.api.config.upload_limit + _MULTIPART_ALLOWANCE:
            # Refused on Content-Length alone; the body is drained after the answer.
            if fault is not None and fault.kind not in _ANSWERED:
                reply = replies.fault_reply(fault)
            else:
                reply = replies.json_reply(413, replies.envelope(413))
            self._finish(entry, reply, close=True)
            with contextlib.suppress(OSError):
                self._drain(length)
            return
        parse_error: ApiError | None = None
        document: multipart.Upload | None = None
        try:
            params, document = forms.read_params(
                query,
                self.headers.get("Content-Type", ""),
                self.rfile,
                length,
                spool=self.server.api.store.files_dir,
                file_limit=self.server.api.config.upload_limit,
            )
            entry["chat_id"] = _chat_of(params)
        except ApiError as error:
            params, parse_error = {}, error
        except multipart.BodyCut:
            self._finish(entry, None)
            return
        try:
            self._answer(token, method, params, document, parse_error, entry, fault)
        finally:
            if document is not None:
                document.discard()  # the store moved it away if it kept it

    def _answer(
        self,
        token: str,
        method: str,
        params: JsonObject,
        document: multipart.Upload | None,
        parse_error: ApiError | None,
        entry: JsonObject,
        fault: Fault | None,
    ) -> None:
        if fault is not None and fault.kind not in _ANSWERED:
            self._finish(entry, replies.fault_reply(fault))
            return
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.delay)
        try:
            if token not in self.server.api.config.tokens:
                raise ApiError(401, "Unauthorized")
            if parse_error is not None:
                raise parse_error
            result = lies.answer(self.server.api.call(token, method, params, document), fault)
            reply = replies.json_reply(200, {"ok": True, "result": result})
        except ApiError as error:
            reply = replies.json_reply(error.status, error.envelope())
        self._finish(entry, reply, cut=fault is not None and fault.kind == "cut")

    def _download(self, token: str, file_path: str) -> None:
        self._drain(self._length())
        fault = self.server.faults.take("download")
        entry = self._entry("download", 0, fault)
        stored = self.server.api.store.file_by_path(file_path)
        if fault is not None and fault.kind not in _ANSWERED:
            self._finish(entry, replies.fault_reply(fault))
        elif token not in self.server.api.config.tokens:
            self._finish(entry, replies.json_reply(401, replies.envelope(401)))
        elif stored is None:
            self._finish(entry, replies.json_reply(404, replies.envelope(404)))
        else:
            if fault is not None and fault.kind == "delay":
                time.sleep(fault.delay)
            cut = fault is not None and fault.kind == "cut"
            entry.update(status=200, response_bytes=stored.size // (2 if cut else 1), duration=0.0)
            self.server.record(entry)
            lies.send_file(self, stored.disk_path, stored.size, fault)

    def _control(self, name: str) -> None:
        length = self._length()
        body = self._read_body(length) if length else bytearray()
        try:
            payload = json.loads(body) if body else {}
            if not isinstance(payload, dict):
                raise ValueError("the body must be a JSON object")
            status, result = self.server.control(self.command, name.strip("/"), payload)
        except (ValueError, TypeError, KeyError) as exc:
            status, result = 400, f"{type(exc).__name__}: {exc}"
        if status == 200:
            self._send(replies.json_reply(200, {"ok": True, "result": result}))
        else:
            error = {"ok": False, "error_code": status, "description": str(result)}
            self._send(replies.json_reply(status, error))
