"""Downloads from the Bot API, bounded: where a file may be read from, how many bytes, how long.

Telegram is trusted for storing bytes, not for what it says about them (docs/security.md). So:
- a getFile `file_path` is fetched only as a plain relative path under the file URL
  (`documents/file_12`); an absolute one only in the local Bot API server mode, inside
  TELEGRAM_LOCAL_FILES_DIR once symlinks are resolved; anything else is refused;
- a file has the size its record says (else getFile's file_size): getFile or a Content-Length
  that says otherwise is refused before a byte is read, and reading stops at the first byte
  beyond it;
- each download ends by TELEGRAM_DOWNLOAD_TIMEOUT, its retries included, and a stretch of
  RATE_WINDOW seconds below TELEGRAM_DOWNLOAD_MIN_RATE ends the attempt.

A broken bound on size or path raises TelegramDownloadRefused (a TelegramRejected): the same
server would tell the same lie again, so it is not retried. Too slow a stretch is a network error
(a congested link recovers): retried, within the deadline; the deadline itself is final.
"""

from __future__ import annotations

import os
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import requests
import urllib3

from worker import defaults, errors
from worker.telegram import answers

# Bytes per read: under the 128 KiB mmap threshold the worker fixes (worker.jobs.runtime) a
# read's buffer comes from the heap and is reused; 1 MiB ones were mapped and faulted in anew.
READ_SIZE = 64 * 1024
RATE_WINDOW = 30.0  # seconds over which a download must reach TELEGRAM_DOWNLOAD_MIN_RATE
# A segment of a cloud file_path (`documents/file_12.pdf`): no "." or "..", no "%", "\", ":".
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_SHOWN = 80  # characters of a refused file_path a message shows


@dataclass(frozen=True)
class Policy:
    """The download settings of one client."""

    timeout: float = defaults.DEFAULT_DOWNLOAD_TIMEOUT  # seconds, all attempts of one file
    min_rate: int = defaults.DEFAULT_DOWNLOAD_MIN_RATE  # bytes per second; 0: no minimum
    window: float = RATE_WINDOW  # seconds
    local_files_dir: Path | None = None  # TELEGRAM_LOCAL_FILES_DIR


@dataclass(frozen=True)
class Bounds:
    """What one file's download may take: bytes, and time until its deadline."""

    size: int  # the file's bytes; one more is refused
    exact: bool  # the size is known (recorded or announced), not just the largest allowed
    source: str  # where the size comes from, for messages
    deadline: float  # time.monotonic() by which every attempt has ended
    policy: Policy

    @classmethod
    def of(cls, announced: int | None, recorded: int | None, policy: Policy) -> Bounds:
        """The bounds of a file getFile says has `announced` bytes and the record `recorded`."""
        if recorded is not None and announced is not None and announced != recorded:
            raise _refused(
                f"getFile says {announced} bytes, {recorded} bytes recorded: the Bot API "
                "does not have the file the record names"
            )
        if recorded is not None:
            size, exact, source = recorded, True, f"{recorded} bytes recorded"
        elif announced is not None:
            size, exact, source = announced, True, f"{announced} bytes by getFile"
        else:
            size = defaults.LOCAL_SERVER_UPLOAD_LIMIT
            exact, source = False, f"at most {size} bytes"
        return cls(size, exact, source, time.monotonic() + policy.timeout, policy)

    def read_timeout(self, configured: float, written: int = 0) -> float:
        """The socket read timeout of the next attempt; TelegramDownloadTimeout when none is
        left."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self.timed_out(written)
        return min(configured, left)

    def timed_out(self, written: int) -> errors.TelegramDownloadTimeout:
        return errors.TelegramDownloadTimeout(
            f"download: not done within TELEGRAM_DOWNLOAD_TIMEOUT={self.policy.timeout:g} s "
            f"({written} of {self.source}): the Bot API is stalled or too slow",
            method="download",
        )

    def check_length(self, length: int) -> None:
        """Refuse a file of `length` bytes (a Content-Length, a local file's size)."""
        if length > self.size or (self.exact and length != self.size):
            raise _refused(f"the answer announces Content-Length {length}, {self.source}")


def locate(file_path: str, policy: Policy) -> Path | str:
    """Where getFile's `file_path` is read: a file of the local Bot API server (an absolute
    path inside TELEGRAM_LOCAL_FILES_DIR, symlinks resolved), or a path under the file URL."""
    shown = repr(file_path[:_SHOWN]) + ("..." if len(file_path) > _SHOWN else "")
    root = policy.local_files_dir
    if file_path.startswith("/"):
        if root is None:
            raise _refused(
                f"getFile gave the absolute file_path {shown}: only a local Bot API server does, "
                "and TELEGRAM_LOCAL_FILES_DIR (its --dir) is not set"
            )
        try:
            resolved, inside = Path(file_path).resolve(), root.resolve()
        except (OSError, ValueError):
            resolved = inside = Path("/")
        if resolved == inside or not resolved.is_relative_to(inside):
            raise _refused(
                f"getFile gave the file_path {shown}, outside TELEGRAM_LOCAL_FILES_DIR={root}"
            )
        return resolved
    if not all(_SEGMENT.fullmatch(segment) for segment in file_path.split("/")):
        raise _refused(
            f"getFile gave the file_path {shown}: a file_path is relative, of letters, digits, "
            '"_", "-" and "." (no "..", "%", "\\", ":" or URL)'
        )
    return file_path


def url_path(file_path: str, where: Path | str) -> str:
    """The quoted path under the file URL of a file `locate` placed at `where`: a local
    server's absolute path as it named it, normalised (the server knows its own symlinks)."""
    path = where if isinstance(where, str) else os.path.normpath(file_path)
    return urllib.parse.quote(path.lstrip("/"))


def stream(
    response: requests.Response,
    sink: BinaryIO,
    on_progress: Callable[[int], None] | None,
    bounds: Bounds,
    *,
    token: str,
) -> int:
    """Write a streamed download to `sink` within `bounds`; returns the bytes written.

    urllib3's read1 returns what one socket read brings, so a server that drips bytes is
    checked against the deadline and the rate after each of them.
    """
    with response:
        if response.status_code != 200:
            answers.check_response("download", response, token)
            raise errors.TelegramServerError(
                f"download: unexpected HTTP status {response.status_code}",
                status=response.status_code,
                method="download",
            )
        header = response.headers.get("Content-Length")
        if header is not None and not header.isdigit():
            raise _refused(f"the answer's Content-Length {header[:20]!r} is no number")
        if header is not None:
            bounds.check_length(int(header))
        written, rate = 0, _Rate(bounds)
        while chunk := _read(response.raw):
            if written + len(chunk) > bounds.size:
                sink.write(chunk[: bounds.size - written])
                raise _refused(f"the answer holds more than {bounds.size} bytes, {bounds.source}")
            sink.write(chunk)
            written += len(chunk)
            if on_progress is not None:
                on_progress(written)
            rate.passed(written)
    if bounds.exact and written != bounds.size:
        raise errors.TelegramNetworkError(
            f"download: got {written} bytes, expected {bounds.size}", method="download"
        )
    return written


def copy(
    path: Path, sink: BinaryIO, on_progress: Callable[[int], None] | None, bounds: Bounds
) -> int:
    """Copy a file a local Bot API server left on this host's disk into `sink`, within
    `bounds`."""
    written = 0
    with path.open("rb") as handle:
        bounds.check_length(os.fstat(handle.fileno()).st_size)
        while chunk := handle.read(min(READ_SIZE, bounds.size - written)):
            sink.write(chunk)
            written += len(chunk)
            if on_progress is not None:
                on_progress(written)
    return written


class _Rate:
    """The deadline and the minimum rate, checked as bytes arrive."""

    def __init__(self, bounds: Bounds) -> None:
        self._bounds = bounds
        self._start = time.monotonic()
        self._at = 0

    def passed(self, written: int) -> None:
        now = time.monotonic()
        if now > self._bounds.deadline:
            raise self._bounds.timed_out(written)
        policy, elapsed = self._bounds.policy, now - self._start
        if policy.min_rate and elapsed >= policy.window:
            done = written - self._at
            if done < policy.min_rate * elapsed:
                raise errors.TelegramNetworkError(
                    f"download: {done} bytes in {elapsed:.1f} s, below "
                    f"TELEGRAM_DOWNLOAD_MIN_RATE={policy.min_rate} bytes/s",
                    method="download",
                )
            self._start, self._at = now, written


def _read(raw: urllib3.BaseHTTPResponse) -> bytes:
    """One socket read's bytes (b"" at the end); urllib3's errors as requests' own."""
    try:
        return raw.read1(READ_SIZE, decode_content=True)
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.exceptions.ReadTimeout(str(exc)) from None
    except urllib3.exceptions.ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(str(exc)) from None
    except urllib3.exceptions.DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(str(exc)) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise requests.exceptions.ConnectionError(str(exc)) from None


def _refused(reason: str) -> errors.TelegramDownloadRefused:
    return errors.TelegramDownloadRefused(f"download: {reason}: refused", method="download")
