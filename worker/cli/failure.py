"""A command's failure as one line an operator can act on, and the exit status it ends with.

common.guard, the CLI's one boundary, hands every exception here. As httpx does with its
transport's errors, the most specific cause we recognise wins: the broker or the control plane
out of reach, a control plane without its tables, the project's own refusals; anything else is
a bug, named by its type and place, whose traceback `backup-worker --debug` shows.

The libraries' exception classes are looked up in sys.modules, never imported: an exception
of a library that is not loaded cannot have been raised, and a failing command should not pay
for imports its success did not need.
"""

from __future__ import annotations

import errno
import sys
import traceback
from dataclasses import dataclass
from urllib.parse import urlsplit

from worker import errors, redact, settings
from worker.cli import common

# The first match, in this order, in the messages of the exception's chain, names the cause.
_REASONS = (
    ("connection refused", "connection refused"),
    ("timed out", "timed out"),
    ("timeout", "timed out"),
    ("name or service not known", "host name not found"),
    ("temporary failure in name resolution", "host name not found"),
    ("nodename nor servname", "host name not found"),
    ("no route to host", "no route to host"),
    ("password authentication failed", "password authentication failed"),
    ("wrongpass", "wrong user name or password"),
    ("noauth", "a password is required"),
)
_ERRNO_REASONS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ETIMEDOUT: "timed out",
    errno.EHOSTUNREACH: "no route to host",
}
# PostgreSQL's SQLSTATEs of a control plane that `migrate` has not (fully) set up.
_NO_TABLES = {"42P01", "3F000"}  # undefined_table, invalid_schema_name
_OLD_SCHEMA = {"42703"}  # undefined_column
MAX_DETAIL = 200  # characters of a driver's message in the line


@dataclass(frozen=True)
class Failure:
    """What the guard prints (`message`) and the status the process exits with."""

    message: str
    exit_code: int


def translate(exc: BaseException) -> Failure:
    """The one line and the exit status for `exc`, secrets redacted."""
    config = _settings()
    found = _known(exc, config)
    if found is None:
        found = _unexpected(exc)
    secrets = _secrets(config)
    return Failure(redact.redact(found.message, *secrets), found.exit_code)


def traceback_text(exc: BaseException) -> str:
    """The whole traceback, redacted, for --debug."""
    text = "".join(traceback.format_exception(exc))
    return redact.redact(text, *_secrets(_settings()))


def _known(exc: BaseException, config: settings.Settings | None) -> Failure | None:
    if isinstance(exc, errors.ControlPlaneUnavailable):
        return Failure(exc.message, common.EXIT_UNAVAILABLE)
    if isinstance(exc, errors.BackupWorkerError):
        return Failure(exc.message, common.EXIT_ERROR)
    if isinstance(exc, KeyboardInterrupt):
        return Failure(
            "interrupted (a job already queued goes on: `backup-worker jobs list`)",
            common.EXIT_INTERRUPTED,
        )
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is not None and isinstance(exc, sa_exc.DBAPIError):
        return _database(exc, config)
    if _is_broker_error(exc):
        return _broker(exc, config)
    return None


def _database(exc: BaseException, config: settings.Settings | None) -> Failure | None:
    where = _location(config.database_url if config else "", with_scheme=False)
    code = getattr(getattr(exc, "orig", None), "pgcode", None)
    if code in _NO_TABLES:
        return Failure(
            f"the control plane at {where} (DATABASE_URL) has no tables yet: "
            "run `backup-worker migrate`",
            common.EXIT_ERROR,
        )
    if code in _OLD_SCHEMA:
        return Failure(
            f"the control plane at {where} (DATABASE_URL) has an older schema than this "
            "backup-worker: run `backup-worker migrate`",
            common.EXIT_ERROR,
        )
    sa_exc = sys.modules["sqlalchemy.exc"]
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return Failure(
            f"cannot reach the control plane at {where} (DATABASE_URL): {_reason(exc)}",
            common.EXIT_UNAVAILABLE,
        )
    return None


def _is_broker_error(exc: BaseException) -> bool:
    kombu_exc = sys.modules.get("kombu.exceptions")
    redis_exc = sys.modules.get("redis.exceptions")
    if kombu_exc is not None and isinstance(exc, kombu_exc.OperationalError):
        return True
    return redis_exc is not None and isinstance(
        exc, redis_exc.ConnectionError | redis_exc.TimeoutError | redis_exc.AuthenticationError
    )


def _broker(exc: BaseException, config: settings.Settings | None) -> Failure:
    url = config.celery_broker_url if config else ""
    parts = urlsplit(url)
    kombu_exc = sys.modules.get("kombu.exceptions")
    through_kombu = kombu_exc is not None and isinstance(exc, kombu_exc.OperationalError)
    if not through_kombu and f"{parts.hostname}:{parts.port or 6379}" not in _chain_text(exc):
        # Another Redis (the pacer's, PACER_REDIS_URL): its error names where it is.
        return Failure(
            f"cannot reach Redis: {_reason(exc)} ({_first_line(str(exc))})",
            common.EXIT_UNAVAILABLE,
        )
    return Failure(
        f"cannot reach the broker at {_location(url, with_scheme=True)} (CELERY_BROKER_URL): "
        f"{_reason(exc)}",
        common.EXIT_UNAVAILABLE,
    )


def _unexpected(exc: BaseException) -> Failure:
    frames = traceback.extract_tb(exc.__traceback__)
    place = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    said = _first_line(str(exc))
    detail = f": {said}" if said else ""
    return Failure(
        f"unexpected {type(exc).__name__}{place}{detail} (a bug: run again as "
        "`backup-worker --debug …` for the traceback, and report it)",
        common.EXIT_BUG,
    )


def _reason(exc: BaseException) -> str:
    for link in _chain(exc):
        if isinstance(link, OSError) and link.errno in _ERRNO_REASONS:
            return _ERRNO_REASONS[link.errno]
    text = _chain_text(exc).lower()
    for needle, reason in _REASONS:
        if needle in text:
            return reason
    return _first_line(str(getattr(exc, "orig", None) or exc)) or type(exc).__name__


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and link not in seen:
        seen.append(link)
        link = link.__cause__ or link.__context__
    return seen


def _chain_text(exc: BaseException) -> str:
    return "\n".join(str(link) for link in _chain(exc))


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= MAX_DETAIL else line[: MAX_DETAIL - 1] + "…"


def _location(url: str, *, with_scheme: bool) -> str:
    """`url` without its user and password: scheme://host:port/path, or host:port/database.
    Of kombu's list of URLs (`sentinel://a;sentinel://b`), the first one."""
    try:
        parts = urlsplit(url.split(";", 1)[0])
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an unreadable URL)"
    where = f"{host}{port}{parts.path}"
    scheme = parts.scheme.split("+")[0]
    return f"{scheme}://{where}" if with_scheme and scheme else where


def _settings() -> settings.Settings | None:
    try:
        return settings.current()
    except errors.ConfigError:
        return None  # a setting is malformed: the failure itself is most likely that


def _secrets(config: settings.Settings | None) -> tuple[str, ...]:
    if config is None:
        return ()
    from worker import logs

    return logs.secrets_of(config)
