"""Logging for worker and beat processes: plain or JSON lines, with every secret redacted.

`install()` connects Celery's `setup_logging` signal, so Celery hands the whole logging set-up
to `configure()`: one handler on the root logger, whose formatter redacts bot tokens, URL
passwords, libpq `password=` values, age identities and the configured secrets from every line,
tracebacks included. It also connects the task signals of `worker.jobs.events`, which write one
line per job event. Set LOG_JSON=true for one JSON object per line.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from celery import current_task, signals

from worker import settings
from worker.telegram import answers

REDACTED = answers.REDACTED
MIN_LITERAL_SECRET = 8  # characters: shorter values would redact ordinary words
PLAIN_FORMAT = "[%(asctime)s: %(levelname)s/%(processName)s] %(message)s"
EVENT_FIELD = "job_event"  # the `extra` key that carries a job event's fields (worker.jobs.events)
_DISPATCH_UID = "backup-worker.logs.setup"

# A password in a URL's userinfo, unless it is already masked ("**", as kombu prints it).
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):(?!\*+@)[^@/\s]+@")
_KV_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|[^\s'\"]+)", re.I)
_AGE_IDENTITY = re.compile(r"AGE-SECRET-KEY-1[0-9A-Za-z]+")
_FLOWER_AUTH = re.compile(r"(?P<head>FLOWER_BASIC_AUTH\s*[=:]\s*)(?P<pw>\S+)")


@dataclass(frozen=True)
class Redactor:
    """Removes secrets from text: known values first, then anything shaped like one."""

    secrets: tuple[str, ...] = ()

    def __call__(self, text: str) -> str:
        """`text` with every secret replaced by <redacted>."""
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        text = answers.redact(text, "")
        text = _URL_PASSWORD.sub(rf"\g<head>:{REDACTED}@", text)
        text = _KV_PASSWORD.sub(rf"\g<head>{REDACTED}", text)
        text = _FLOWER_AUTH.sub(rf"\g<head>{REDACTED}", text)
        return _AGE_IDENTITY.sub(REDACTED, text)


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
    if config.flower_basic_auth is not None:
        for credential in config.flower_basic_auth.get_secret_value().split(","):
            found.add(credential.partition(":")[2])
    return tuple(sorted((s for s in found if len(s) >= MIN_LITERAL_SECRET), key=len, reverse=True))


class PlainFormatter(logging.Formatter):
    """Celery's usual line format, redacted after formatting (tracebacks included)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__(PLAIN_FORMAT)
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        """The formatted line, secrets removed."""
        return self.redactor(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, task and job fields."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON, every string value redacted."""
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.processName,
            "message": record.getMessage(),
        }
        # Celery's public proxy of the running task: false outside a task.
        if current_task and current_task.request.id is not None:
            line["task_id"] = str(current_task.request.id)
            line["task_name"] = str(current_task.name)
        event = getattr(record, EVENT_FIELD, None)
        if isinstance(event, dict):
            line.update(event)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(self._clean(line), ensure_ascii=False, default=str)

    def _clean(self, value: object) -> object:
        if isinstance(value, str):
            return self.redactor(value)
        if isinstance(value, dict):
            return {str(k): self._clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(v) for v in value]
        return value


def configure(
    *,
    level: int | str = logging.INFO,
    logfile: str | None = None,
    json_lines: bool = False,
    secrets: tuple[str, ...] = (),
) -> logging.Handler:
    """Give the root logger one redacting handler (replacing an earlier one of ours)."""
    redactor = Redactor(secrets)
    formatter: logging.Formatter
    formatter = JsonFormatter(redactor) if json_lines else PlainFormatter(redactor)
    handler: logging.Handler
    if logfile:
        handler = logging.FileHandler(logfile, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.__stderr__ or sys.stderr)
    handler.setFormatter(formatter)
    handler.set_name("backup-worker")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "backup-worker"]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
    answers.install_log_redaction()
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
