"""Logging for worker and beat processes: plain or JSON lines, with every secret redacted.

`install()` connects Celery's `setup_logging` signal, so Celery hands the whole logging set-up
to `configure()`: one handler on the root logger. Its worker.redact.RedactingFilter removes bot
tokens, URL passwords, libpq `password=` values, age identities and the configured secrets from
every record before any formatter sees it, tracebacks included. Its BoundingFilter, before that,
cuts every %-argument, the message and the traceback to a bounded length (redacting each before
cutting it), so a value from outside (a 10,000-character project id) cannot fill the log before
it is validated. It also connects the task signals of `worker.jobs.events`, which write one line
per job event. Set LOG_JSON=true for one JSON object per line (python-json-logger).
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from celery import current_task, signals
from pythonjsonlogger import json as jsonlogger

from worker import redact, settings

PLAIN_FORMAT = "[%(asctime)s: %(levelname)s/%(processName)s] %(message)s"
EVENT_FIELD = redact.EVENT_FIELD
# The record attributes a JSON line carries, and the names they have there.
_JSON_FIELDS = {"levelname": "level", "name": "logger", "processName": "process"}
_JSON_RENAMES = {**_JSON_FIELDS, "exc_info": "exception", "stack_info": "stack"}
_DISPATCH_UID = "backup-worker.logs.setup"
MAX_ARGUMENT = 200  # characters of one %-argument in a line
MAX_MESSAGE = 2000  # characters of a message, of an event field, of a traceback's line
MAX_TRACEBACK = 20000  # characters of a traceback


def secrets_of(config: settings.Settings) -> tuple[str, ...]:
    """The configured secret values worth redacting literally, longest first."""
    found: set[str] = set()
    if config.telegram_bot_token is not None:
        found.add(config.telegram_bot_token.get_secret_value())
    urls = (
        config.database_url,
        config.source_database_url.get_secret_value(),
        config.celery_broker_url,
        config.celery_result_backend,
    )
    for url in urls:
        try:
            password = urlsplit(url).password
        except ValueError:
            password = None
        if password:
            found.add(password)
    found.update(key.decode() for key in config.catalog_keys)
    if config.flower_basic_auth is not None:
        for credential in config.flower_basic_auth.get_secret_value().split(","):
            found.add(credential.partition(":")[2])
    return tuple(
        sorted((s for s in found if len(s) >= redact.MIN_LITERAL_SECRET), key=len, reverse=True)
    )


class JsonFormatter(jsonlogger.JsonFormatter):
    """One JSON object per line: time, level, logger, message, task and job fields.

    Only these fields: other `extra` values (Celery passes task arguments as `data`) stay out.
    """

    def __init__(self) -> None:
        super().__init__(
            [*_JSON_FIELDS, "message"], rename_fields=_JSON_RENAMES, json_ensure_ascii=False
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        """The line's fields in a fixed order; the exception and the stack last."""
        log_data["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(
            timespec="milliseconds"
        )
        for field in self._required_fields:
            log_data[self._get_rename(field)] = record.__dict__.get(field)
        # celery.current_task is a proxy: falsy outside a task.
        if current_task and current_task.request.id is not None:
            log_data["task_id"] = str(current_task.request.id)
            log_data["task_name"] = str(current_task.name)
        event = getattr(record, EVENT_FIELD, None)
        if isinstance(event, dict):
            log_data.update(event)
        for key, value in message_dict.items():
            log_data[self._get_rename(key)] = value


def bounded(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}...[{len(text) - limit} more characters]"


class BoundingFilter(logging.Filter):
    """Cuts what one record may write: each %-argument, the message, the traceback, the
    job-event fields. Each is redacted before it is cut, so no cut leaves half a secret that
    the RedactingFilter after it would no longer recognise."""

    def __init__(self, redactor: redact.Redactor) -> None:
        super().__init__()
        self._redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        """Bound the record in place; never drops one."""
        if isinstance(record.args, tuple):
            record.args = tuple(self._argument(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: self._argument(arg) for key, arg in record.args.items()}
        message = record.getMessage()
        if len(message) > MAX_MESSAGE:
            record.msg, record.args = bounded(self._redact(message), MAX_MESSAGE), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and len(record.exc_text) > MAX_MESSAGE:
            lines = self._redact(record.exc_text).splitlines()
            text = "\n".join(bounded(line, MAX_MESSAGE) for line in lines)
            record.exc_text, record.exc_info = bounded(text, MAX_TRACEBACK), None
        event = getattr(record, EVENT_FIELD, None)
        if isinstance(event, dict):
            setattr(record, EVENT_FIELD, {k: self._field(v) for k, v in event.items()})
        return True

    def _argument(self, value: object) -> object:
        """Numbers as they are (a %d needs one); a longer text than MAX_ARGUMENT cut."""
        if isinstance(value, int | float) or value is None:
            return value
        text = str(value)
        return bounded(self._redact(text), MAX_ARGUMENT) if len(text) > MAX_ARGUMENT else value

    def _field(self, value: object) -> object:
        if isinstance(value, str) and len(value) > MAX_MESSAGE:
            return bounded(self._redact(value), MAX_MESSAGE)
        return value


def configure(
    *,
    level: int | str = logging.INFO,
    logfile: str | None = None,
    json_lines: bool = False,
    secrets: tuple[str, ...] = (),
) -> logging.Handler:
    """Give the root logger one redacting handler (replacing an earlier one of ours)."""
    formatter = JsonFormatter() if json_lines else logging.Formatter(PLAIN_FORMAT)
    handler: logging.Handler
    if logfile:
        handler = logging.FileHandler(logfile, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.__stderr__ or sys.stderr)
    handler.setFormatter(formatter)
    redacting = redact.RedactingFilter(secrets)
    handler.addFilter(BoundingFilter(redacting.redactor))
    handler.addFilter(redacting)
    handler.set_name("backup-worker")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "backup-worker"]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    redact.install_on_url_loggers()
    return handler


def _on_setup_logging(
    loglevel: int | str | None = None, logfile: str | None = None, **_: object
) -> None:
    config = settings.current()
    configure(
        level=loglevel or logging.INFO,
        logfile=logfile or None,
        json_lines=config.log_json,
        secrets=secrets_of(config),
    )


def install() -> None:
    """Let this module set up logging in every Celery process, and log job events."""
    from worker.jobs import events as jobevents

    signals.setup_logging.connect(_on_setup_logging, weak=False, dispatch_uid=_DISPATCH_UID)
    jobevents.install()
