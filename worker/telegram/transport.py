"""How the Telegram client reaches the Bot API: HTTP session, requests, streams, retry policy.

What is retried is decided by exception type only: errors.TelegramRetryable (429, 5xx, network)
is retried, errors.TelegramRejected never is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeAlias, TypeVar

import requests
import tenacity
from requests.adapters import HTTPAdapter
from requests_toolbelt import MultipartEncoder, MultipartEncoderMonitor

from worker import errors, redact
from worker.telegram import answers, counters

# Retries are logged under the client's name: operators filter on "worker.telegram.client".
log = logging.getLogger("worker.telegram.client")

CHUNK_SIZE = 1024 * 1024  # bytes per upload socket write
RETRY_AFTER_MARGIN = 0.5  # seconds on top of retry_after: its boundary may still be throttled
BACKOFF_MULTIPLIER = 0.5  # seconds: the first backoff; it doubles with each attempt
BACKOFF_JITTER = 0.5  # seconds of random spread added to each backoff
_T = TypeVar("_T")


class _Adapter(HTTPAdapter):
    """No urllib3 retries (tenacity retries), and 1 MiB socket writes for streamed uploads."""

    def __init__(self) -> None:
        super().__init__(max_retries=0)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: object
    ) -> None:
        """Add urllib3's `blocksize` (16 KiB by default, slow for 20 MB parts)."""
        pool_kwargs.setdefault("blocksize", CHUNK_SIZE)
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)


def new_session() -> requests.Session:
    """A requests session without urllib3 retries."""
    session = requests.Session()
    session.mount("https://", _Adapter())
    session.mount("http://", _Adapter())
    return session


def request(
    session: requests.Session,
    method: str,
    verb: str,
    url: str,
    *,
    token: str,
    timeouts: tuple[float, float],
    data: Body | None = None,
    headers: dict[str, str] | None = None,
    json: dict[str, object] | None = None,
    stream: bool = False,
) -> requests.Response:
    """Send one request; a requests failure becomes a token-free TelegramError."""
    try:
        return session.request(
            verb, url, data=data, headers=headers, json=json, stream=stream, timeout=timeouts
        )
    except requests.RequestException as exc:
        error = answers.network_error(method, exc, token)
    # Raised here, outside `except`, so no exception in the chain carries the URL.
    raise error


class RetryPolicy:
    """Runs a Bot API call with tenacity: bounded attempts, retry_after honoured, else backoff."""

    def __init__(
        self,
        *,
        token: str,
        max_attempts: int,
        max_backoff: float,
        sleep: Callable[[float], None],
        counters: counters.Counters = counters.NONE,
    ) -> None:
        if max_attempts < 1:
            raise errors.ConfigError("the Telegram client needs max_attempts of at least 1")
        self.max_attempts = max_attempts
        self._token = token
        self._sleep = sleep
        self._counters = counters
        self._backoff = tenacity.wait_exponential_jitter(
            multiplier=BACKOFF_MULTIPLIER, max=max_backoff, jitter=BACKOFF_JITTER
        )

    def once(self, method: str, fn: Callable[..., _T], *args: object) -> _T:
        """fn(*args) tried once (the fleet's sender retries through the pacer), counted by
        method and outcome in the counters given."""
        try:
            result = fn(*args)
        except errors.PartCut:
            raise  # dropped by us before its end: no request Telegram saw
        except Exception as exc:
            self._counters.request(method, counters.outcome(exc))
            raise
        self._counters.request(method, counters.OK)
        return result

    def __call__(self, method: str, fn: Callable[..., _T], *args: object) -> _T:
        """fn(*args), retried while it raises TelegramRetryable; the last error is re-raised.

        Each attempt is counted, by method and outcome, in the counters given.
        """

        def counted(*args: object) -> _T:
            return self.once(method, fn, *args)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(errors.TelegramRetryable),
            sleep=self._sleep,
            before_sleep=lambda state: self._log_retry(method, state),
            reraise=True,
        )
        return retrying(counted, *args)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, errors.TelegramRetryAfter):
            return error.retry_after + RETRY_AFTER_MARGIN
        return float(self._backoff(state))

    def _log_retry(self, method: str, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning(
            "%s: attempt %d of %d failed, retrying in %.1f s: %s",
            method,
            state.attempt_number,
            self.max_attempts,
            wait,
            redact.redact(str(error), self._token),
        )


_Form: TypeAlias = MultipartEncoder | MultipartEncoderMonitor


class HeldEnd:
    """A request body whose last block waits for `before_end()`: the request completes then.

    requests sends a body with `read` and `len` block by block (urllib3 reads 16 KiB at a time),
    so the block holding the body's final bytes is returned only once `before_end` returns.
    """

    def __init__(self, body: _Form, before_end: Callable[[], None]) -> None:
        self._body = body
        self._before_end: Callable[[], None] | None = before_end
        self._read = 0
        self.len = body.len
        self.content_type = body.content_type

    def read(self, size: int = -1) -> bytes:
        """The next block of the body; the last one after `before_end()`."""
        chunk = bytes(self._body.read(size))
        self._read += len(chunk)
        if self._before_end is not None and (not chunk or self._read >= self.len):
            gate, self._before_end = self._before_end, None
            gate()
        return chunk


# What a request's body may be: a multipart form, watched, and maybe held at its end.
Body: TypeAlias = MultipartEncoder | MultipartEncoderMonitor | HeldEnd
