"""Fault injection for the stand-in: a scripted queue and random rates.

Fault words (script entries):
  "429:N"    429 Too Many Requests with parameters.retry_after = N
  "429"      429 Too Many Requests without parameters
  "500"      500 with the Bot API's JSON envelope
  "502", "503", "504"   an nginx-style HTML error page (text/html)
  "400", "401", "403", "404", "413"   the Bot API's JSON error for that status
  "drop"     read the request, then close the socket without an answer
  "cut"      answer normally but close the socket halfway through the body
  "delay:S"  wait S seconds, then answer normally
  "200-html" a 200 whose body is HTML, not JSON
  "200-false" a 200 whose JSON says ok:false
A hostile server's lies (standin/lies.py):
  "oversize:N" a download that streams N bytes more than the file, without Content-Length
  "length:N"   a download that announces and sends N bytes more than the file
  "drip:S"     a download that sends one byte every S seconds
  "size:N"     a getFile answer whose file_size is N
  "path:P"     a getFile answer whose file_path is P (absolute, with "..", a URL...)
Downloads of `/file/bot<token>/...` match the method name "download".
"""

from __future__ import annotations

import random
import re
import threading
from collections import deque
from dataclasses import dataclass

_WORD = re.compile(
    r"^(?:(?P<status>[1-5]\d\d)(?::(?P<arg>\d+(?:\.\d+)?))?|(?P<name>drop|cut)|"
    r"delay:(?P<delay>\d+(?:\.\d+)?)|(?P<odd>200-html|200-false)|"
    r"(?P<lie>oversize|length|drip|size|path):(?P<said>\S+))$"
)
LIES = frozenset({"oversize", "length", "drip", "size", "path"})
_STATUSES = {400, 401, 403, 404, 413, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour; `kind` is "status", "drop", "cut", "delay" or an odd 200."""

    kind: str
    status: int = 0
    retry_after: int | None = None
    delay: float = 0.0
    said: str = ""  # a lie's argument: bytes, seconds or a path

    @property
    def word(self) -> str:
        """The script word this fault was parsed from (for the request log)."""
        if self.kind == "status":
            suffix = f":{self.retry_after}" if self.retry_after is not None else ""
            return f"{self.status}{suffix}"
        if self.kind == "delay":
            return f"delay:{self.delay:g}"
        if self.kind in LIES:
            return f"{self.kind}:{self.said}"
        return self.kind


def parse_fault(word: str) -> Fault:
    """Parse one script word such as "429:3", "502" or "drop"."""
    # A path keeps its case; the other words are case-insensitive.
    match = _WORD.match(word.strip()) or _WORD.match(word.strip().lower())
    if match is None:
        raise ValueError(f"unknown fault {word!r}")
    if match.group("lie"):
        said = match.group("said")
        if match.group("lie") != "path":
            float(said)  # ValueError for a count or a time that is no number
        return Fault(kind=match.group("lie"), said=said)
    if match.group("name"):
        return Fault(kind=match.group("name"))
    if match.group("delay"):
        return Fault(kind="delay", delay=float(match.group("delay")))
    if match.group("odd"):
        return Fault(kind=match.group("odd"))
    status = int(match.group("status"))
    if status not in _STATUSES:
        raise ValueError(f"unsupported fault status {status}")
    arg = match.group("arg")
    if arg is not None and status != 429:
        raise ValueError(f"only 429 takes an argument, not {word!r}")
    return Fault(kind="status", status=status, retry_after=int(float(arg)) if arg else None)


@dataclass(frozen=True)
class _Scripted:
    fault: Fault
    methods: frozenset[str] | None


@dataclass(frozen=True)
class FaultRates:
    """Random faults: each matching request fails with these probabilities."""

    rate_429: float = 0.0
    rate_502: float = 0.0
    rate_drop: float = 0.0
    retry_after: int = 1
    methods: frozenset[str] | None = None


class FaultPlan:
    """Thread-safe source of faults for incoming Bot API requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[_Scripted] = deque()
        self._rates = FaultRates()
        self._random = random.Random()  # noqa: S311 - test chaos, not cryptography

    def script(self, words: list[str], methods: list[str] | None = None) -> int:
        """Queue faults, consumed in order by requests of `methods` (any method if None)."""
        wanted = frozenset(m.lower() for m in methods) if methods else None
        entries = [_Scripted(parse_fault(word), wanted) for word in words]
        with self._lock:
            self._queue.extend(entries)
            return len(self._queue)

    def set_rates(self, rates: FaultRates, seed: int | None = None) -> None:
        """Replace the random fault rates; `seed` makes the sequence reproducible."""
        for rate in (rates.rate_429, rates.rate_502, rates.rate_drop):
            if not 0.0 <= rate <= 1.0:
                raise ValueError("rates must be between 0 and 1")
        with self._lock:
            self._rates = rates
            self._random = random.Random(seed)  # noqa: S311

    def pending(self) -> list[str]:
        """The words still queued."""
        with self._lock:
            return [entry.fault.word for entry in self._queue]

    def clear(self) -> None:
        """Forget the script and the rates."""
        with self._lock:
            self._queue.clear()
            self._rates = FaultRates()

    def take(self, method: str) -> Fault | None:
        """The fault for a request of `method`, if any (consumes a scripted entry)."""
        method = method.lower()
        with self._lock:
            for index, entry in enumerate(self._queue):
                if entry.methods is None or method in entry.methods:
                    del self._queue[index]
                    return entry.fault
            rates = self._rates
            if rates.methods is not None and method not in rates.methods:
                return None
            draw = self._random.random()
        if draw < rates.rate_429:
            return Fault(kind="status", status=429, retry_after=rates.retry_after)
        if draw < rates.rate_429 + rates.rate_502:
            return Fault(kind="status", status=502)
        if draw < rates.rate_429 + rates.rate_502 + rates.rate_drop:
            return Fault(kind="drop")
        return None
