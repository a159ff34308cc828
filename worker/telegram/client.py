"""The Telegram Bot API client: sendDocument streamed from disk, getFile, downloads, retries.

Answers are mapped to the exception tree in worker.telegram.answers.check_response; retries
(by exception type only) and the HTTP session live in worker.telegram.transport; typed results
in worker.telegram.results.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Protocol

import requests
from requests_toolbelt import MultipartEncoder, MultipartEncoderMonitor

from worker import defaults, errors, redact
from worker.telegram import answers, counters, downloads, transport
from worker.telegram import results as botresults
from worker.telegram.results import BotUser, SentDocument, TelegramFile

__all__ = ["BotUser", "SentDocument", "TelegramClient", "TelegramFile", "check_response"]

log = logging.getLogger("worker.telegram.client")
check_response = answers.check_response

DEFAULT_API_URL = defaults.TELEGRAM_CLOUD_API
DEFAULT_TIMEOUT = float(defaults.DEFAULT_UPLOAD_TIMEOUT)  # seconds: a 50 MB upload, slow link
DEFAULT_CONNECT_TIMEOUT = 10.0  # seconds


class GrowingReader(Protocol):
    """Reads a document still being written: `len` is what is left of its final size."""

    @property
    def len(self) -> int: ...
    def read(self, size: int = -1, /) -> bytes: ...
    def close(self) -> None: ...


class Growing(Protocol):
    """A document still being written (worker.artifact.growing): its final size, and a reader
    for each try, which raises PartCut when the document ends short or stops growing."""

    @property
    def size(self) -> int: ...
    @property
    def waited(self) -> float: ...  # seconds the last reader waited for the writer
    def open(self) -> GrowingReader: ...


class TelegramClient:
    """A Bot API client for one bot token; not shared between threads."""

    def __init__(
        self,
        token: str,
        api_url: str = DEFAULT_API_URL,
        *,
        session: requests.Session | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        max_attempts: int = defaults.DEFAULT_TELEGRAM_MAX_ATTEMPTS,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        counters: counters.Counters = counters.NONE,
        download_policy: downloads.Policy | None = None,
    ) -> None:
        self._token = token
        self._downloads = download_policy or downloads.Policy()
        self._counters = counters
        self._api_url = api_url.rstrip("/")
        self._own_session = session is None
        self._session = session if session is not None else transport.new_session()
        self._timeouts = (connect_timeout, timeout)
        self._retry = transport.RetryPolicy(
            token=token,
            max_attempts=max_attempts,
            max_backoff=max_backoff,
            sleep=sleep,
            counters=counters,
        )
        redact.install_on_url_loggers()

    def __repr__(self) -> str:
        return f"TelegramClient(api_url={self._api_url!r}, token={redact.PLACEHOLDER!r})"

    def __enter__(self) -> TelegramClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._own_session:
            self._session.close()

    def get_me(self) -> BotUser:
        """The bot's own user: a cheap check of the token and the API URL."""
        return botresults.bot_user(self._call("getMe", {}))

    def send_document(
        self,
        chat_id: int | str,
        path: Path,
        *,
        filename: str | None = None,
        caption: str | None = None,
        thread_id: int | None = None,
        disable_notification: bool = True,
        on_progress: Callable[[int], None] | None = None,
        before_end: Callable[[], None] | None = None,
        retry: bool = True,
        growing: Growing | None = None,
    ) -> SentDocument:
        """Upload `path` as a document, streamed from disk; follows a chat migration once.

        With `growing`, the bytes are read from it as they are written, `path` only names the
        file; PartCut (the document ended short) drops the request before its end.

        on_progress gets the bytes sent so far in the current attempt (at most the file size).
        before_end is called when only the body's last block is left to send: Telegram sees
        the message when that block arrives (the pacer's gate, worker.telegram.arrival).
        With retry=False a retryable error is raised at once: the fleet pacer's sender
        (worker.telegram.sender) retries, each try in a slot of its own.
        """
        fields = {
            "disable_notification": "true" if disable_notification else "false",
            "disable_content_type_detection": "true",
        }
        if caption is not None:
            fields["caption"] = caption
        if thread_id is not None:
            fields["message_thread_id"] = str(thread_id)
        name = filename or path.name

        def attempt(target: int | str) -> object:
            document: BinaryIO | GrowingReader
            try:
                if growing is None:
                    document = path.open("rb")
                    size = os.fstat(document.fileno()).st_size
                else:
                    document, size = growing.open(), growing.size
            except OSError as exc:
                raise errors.SpoolError(
                    f"sendDocument: cannot read {path}: {exc.strerror}"
                ) from exc
            try:
                encoder = MultipartEncoder(
                    fields={
                        "chat_id": str(target),
                        **fields,
                        "document": (name, document, "application/octet-stream"),
                    }
                )
                body: transport.Body = encoder
                if on_progress is not None:
                    report = on_progress
                    body = MultipartEncoderMonitor(
                        encoder, lambda monitor: report(min(monitor.bytes_read, size))
                    )
                if before_end is not None:
                    body = transport.HeldEnd(body, before_end)
                response = self._request(
                    "sendDocument",
                    "POST",
                    self._method_url("sendDocument"),
                    data=body,
                    headers={"Content-Type": body.content_type},
                )
            finally:
                document.close()
            answer = answers.check_response("sendDocument", response, self._token, chat_id=target)
            self._counters.transferred(counters.SENT, size)
            return answer

        result, migrated = answers.follow_migration(
            "sendDocument",
            chat_id,
            lambda target: (self._retry if retry else self._retry.once)(
                "sendDocument", attempt, target
            ),
        )
        return botresults.sent_document(result, migrated)

    def send_message(
        self, chat_id: int | str, text: str, *, thread_id: int | None = None, retry: bool = True
    ) -> int:
        """Send a text message; returns its message_id. Follows a chat migration once.

        retry=False: as for send_document."""

        def send(target: int | str) -> object:
            params: dict[str, object] = {"chat_id": target, "text": text}
            if thread_id is not None:
                params["message_thread_id"] = thread_id
            return self._call("sendMessage", params, chat_id=target, retry=retry)

        result, _ = answers.follow_migration("sendMessage", chat_id, send)
        return botresults.message_id(result, "sendMessage")

    def get_file(self, file_id: str) -> TelegramFile:
        """Resolve a file_id to a downloadable file (the cloud API refuses files over 20 MB)."""
        return botresults.telegram_file(self._call("getFile", {"file_id": file_id}))

    def download(
        self,
        file: TelegramFile,
        sink: BinaryIO,
        *,
        on_progress: Callable[[int], None] | None = None,
        size: int | None = None,
    ) -> int:
        """Write the file's bytes to `sink`; returns the number of bytes written.

        Bounded (worker.telegram.downloads): `size` is what the record says; a byte more, or a
        file_path that leaves the Bot API's files, is refused. A local server's file on this
        host is copied from disk. `sink` must be seekable: each retried attempt seeks back to
        the position `sink` had at the start and truncates there.
        """
        if not file.file_path:
            raise errors.TelegramServerError(
                "download: getFile returned no file_path", method="download"
            )
        where = downloads.locate(file.file_path, self._downloads)
        bounds = downloads.Bounds.of(file.file_size, size, self._downloads)
        if isinstance(where, Path) and where.is_file() and os.access(where, os.R_OK):
            copied = downloads.copy(where, sink, on_progress, bounds)
            self._counters.transferred(counters.FETCHED, copied)
            return copied
        if not sink.seekable():
            raise errors.InputError("download: the sink must be seekable to retry a download")
        start = sink.tell()
        url = f"{self._api_url}/file/bot{self._token}/{downloads.url_path(file.file_path, where)}"

        def attempt() -> int:
            read_timeout = bounds.read_timeout(self._timeouts[1])
            sink.seek(start)
            sink.truncate()
            response = transport.request(
                self._session,
                "download",
                "GET",
                url,
                token=self._token,
                timeouts=(min(self._timeouts[0], read_timeout), read_timeout),
                stream=True,
            )
            try:
                written = downloads.stream(response, sink, on_progress, bounds, token=self._token)
            except requests.RequestException as exc:
                error = answers.network_error("download", exc, self._token)
            else:
                self._counters.transferred(counters.FETCHED, written)
                return written
            raise error

        return self._retry("download", attempt)

    def download_file(
        self,
        file_id: str,
        sink: BinaryIO,
        *,
        on_progress: Callable[[int], None] | None = None,
        size: int | None = None,
    ) -> int:
        """getFile, then download (`size`: the recorded one); returns the bytes written."""
        return self.download(self.get_file(file_id), sink, on_progress=on_progress, size=size)

    def delete_message(self, chat_id: int | str, message_id: int) -> bool:
        """Delete a message the bot sent (Telegram allows it within 48 hours)."""
        result = self._call(
            "deleteMessage", {"chat_id": chat_id, "message_id": message_id}, chat_id=chat_id
        )
        return result is True

    def call(
        self, method: str, params: dict[str, object], *, chat_id: int | str | None = None
    ) -> object:
        """Any JSON Bot API method, with the retry policy; its `result` (worker.telegram.pins)."""
        return self._call(method, params, chat_id=chat_id)

    def _method_url(self, method: str) -> str:
        return f"{self._api_url}/bot{self._token}/{method}"

    def _request(
        self,
        method: str,
        verb: str,
        url: str,
        *,
        data: transport.Body | None = None,
        headers: dict[str, str] | None = None,
        json: dict[str, object] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        return transport.request(
            self._session,
            method,
            verb,
            url,
            token=self._token,
            timeouts=self._timeouts,
            data=data,
            headers=headers,
            json=json,
            stream=stream,
        )

    def _call(
        self,
        method: str,
        params: dict[str, object],
        *,
        chat_id: int | str | None = None,
        retry: bool = True,
    ) -> object:
        def attempt() -> object:
            response = self._request(method, "POST", self._method_url(method), json=params)
            return answers.check_response(method, response, self._token, chat_id=chat_id)

        return self._retry(method, attempt) if retry else self._retry.once(method, attempt)
