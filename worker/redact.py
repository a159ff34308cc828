"""The one redactor: every secret that could reach a message, a log line or a job row, removed.

`redact(text, *secrets)` replaces the given literal values (and their URL-quoted forms) and
anything shaped like a secret: bot tokens (bare and in `/bot<token>/` URL paths), URL
passwords, libpq `password=` values, FLOWER_BASIC_AUTH values and age identities. Each becomes
PLACEHOLDER. `RedactingFilter` does the same to log records, so every handler writes them clean.

Bottom layer: imports only the standard library.
"""

from __future__ import annotations

import logging
import re
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass

PLACEHOLDER = "<redacted>"
MIN_LITERAL_SECRET = 8  # characters: shorter configured values would redact ordinary words
EVENT_FIELD = "job_event"  # the `extra` key that carries a job event's fields (worker.jobs.events)

# "bot" + id + ":" (or %3A) + secret: the token as it appears in Bot API and file URLs.
_URL_TOKEN = re.compile(r"bot\d+(?::|%3[Aa])[A-Za-z0-9_-]+")
_BARE_TOKEN = re.compile(r"(?<![A-Za-z0-9])\d{3,}(?::|%3[Aa])[A-Za-z0-9_-]{20,}")
# A password in a URL's userinfo, unless it is already masked ("**", as kombu prints it).
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):(?!\*+@)[^@/\s]+@")
# No word boundary before it: PGPASSWORD=... goes too.
_KV_PASSWORD = re.compile(r"(?P<head>password\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|[^\s'\"]+)", re.I)
_FLOWER_AUTH = re.compile(r"(?P<head>FLOWER_BASIC_AUTH\s*[=:]\s*)(?P<pw>\S+)")
_AGE_IDENTITY = re.compile(r"AGE-SECRET-KEY-1[0-9A-Za-z]+")
# Loggers of urllib3 that write request URLs (with the token) at DEBUG level.
_URL_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.connection")


def redact(text: str, *secrets: str) -> str:
    """`text` with `secrets` (literally) and anything shaped like a secret replaced."""
    literals = {
        form
        for secret in secrets
        if secret
        for form in (secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote(secret))
    }
    # Longest first: a secret that contains another must go whole.
    for literal in sorted(literals, key=len, reverse=True):
        text = text.replace(literal, PLACEHOLDER)
    text = _URL_TOKEN.sub("bot" + PLACEHOLDER, text)
    text = _BARE_TOKEN.sub(PLACEHOLDER, text)
    text = _URL_PASSWORD.sub(rf"\g<head>:{PLACEHOLDER}@", text)
    text = _KV_PASSWORD.sub(rf"\g<head>{PLACEHOLDER}", text)
    text = _FLOWER_AUTH.sub(rf"\g<head>{PLACEHOLDER}", text)
    return _AGE_IDENTITY.sub(PLACEHOLDER, text)


@dataclass(frozen=True)
class Redactor:
    """`redact` bound to the configured secrets (worker.logs.secrets_of)."""

    secrets: tuple[str, ...] = ()

    def __call__(self, text: str) -> str:
        """`text` with every secret replaced by PLACEHOLDER."""
        return redact(text, *self.secrets)

    def value(self, value: object) -> object:
        """Strings redacted, in dicts, lists and tuples too; other values as they are."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {str(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value


class RedactingFilter(logging.Filter):
    """Rewrites a record's message, traceback, stack and job-event fields; never drops one.

    On a handler it cleans every record that handler writes; on a logger (urllib3, which logs
    full Bot API URLs at DEBUG) every record made there, whichever handlers then see it.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.redactor = Redactor(tuple(secrets))

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record in place."""
        message = record.getMessage()
        cleaned = self.redactor(message)
        if cleaned != message:
            # The args are merged into msg: a secret may only show once they are joined.
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # Every formatter (logging's, python-json-logger's) prints exc_text when exc_info is
            # gone, and none can format the raw traceback again.
            record.exc_text = self.redactor(record.exc_text)
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self.redactor(record.stack_info)
        event = getattr(record, EVENT_FIELD, None)
        if isinstance(event, dict):
            setattr(record, EVENT_FIELD, self.redactor.value(event))
        return True


def install_on_url_loggers() -> None:
    """Attach one RedactingFilter to urllib3's URL-logging loggers (idempotent)."""
    for name in _URL_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
