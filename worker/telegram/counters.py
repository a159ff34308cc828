"""What the Telegram layer counts, and the interface it counts through.

The client and the pacer know nothing of Prometheus or Redis: they call a `Counters` passed in
(worker.metrics.counters.RedisCounters in the workers, `NONE` by default). Every call must be
cheap and must never raise: a lost counter must not fail a backup.

Labels are bounded: `method` is a Bot API method name the client uses (or "download"),
`outcome` one of OUTCOMES, `direction` one of "sent" and "fetched".
"""

from __future__ import annotations

from typing import Protocol

from worker import errors

OK = "ok"
RETRY_AFTER = "retry_after"  # 429 flood control
SERVER_ERROR = "server_error"  # 5xx, or an answer that is not the Bot API's JSON
NETWORK_ERROR = "network_error"  # timeout, refused or dropped connection
REJECTED = "rejected"  # 400/401/403/404/413: retrying cannot help
OTHER = "other"  # anything else raised during an attempt (an unreadable part file)
OUTCOMES = (OK, RETRY_AFTER, SERVER_ERROR, NETWORK_ERROR, REJECTED, OTHER)
SENT = "sent"
FETCHED = "fetched"


class Counters(Protocol):
    """Where the Telegram layer reports what it did."""

    def request(self, method: str, outcome: str) -> None:
        """One attempt of a Bot API call ended with `outcome` (one of OUTCOMES)."""

    def transferred(self, direction: str, size: int) -> None:
        """`size` bytes of documents were uploaded ("sent") or downloaded ("fetched")."""

    def paced(self, seconds: float) -> None:
        """The fleet pacer made a send wait `seconds` (0 when the slot was free at once)."""


class _NoCounters:
    """Counts nothing: the default of a client that is given no counters."""

    def request(self, method: str, outcome: str) -> None:
        """Nothing."""

    def transferred(self, direction: str, size: int) -> None:
        """Nothing."""

    def paced(self, seconds: float) -> None:
        """Nothing."""


NONE: Counters = _NoCounters()


def outcome(error: BaseException | None) -> str:
    """The outcome label of an attempt that raised `error` (None: it succeeded)."""
    if error is None:
        return OK
    if isinstance(error, errors.TelegramRetryAfter):
        return RETRY_AFTER
    if isinstance(error, errors.TelegramServerError):
        return SERVER_ERROR
    if isinstance(error, errors.TelegramNetworkError):
        return NETWORK_ERROR
    if isinstance(error, errors.TelegramRejected):
        return REJECTED
    return OTHER
