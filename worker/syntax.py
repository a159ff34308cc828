"""The syntax of setting values: chat ids, bot tokens, sizes, URLs and patterns.

Each function returns the value as the settings keep it, or raises ValueError with a message
that says what is expected; pydantic puts the variable's name in front. None quotes a token.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_BOT_TOKEN = re.compile(r"^[0-9]{1,20}:\S+$")
_SIZE = re.compile(r"(?i)^\s*(\d+)\s*([KMGT]?)B?\s*$")
_SIZE_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
SWITCHES = ("on", "off")


def chat_id(value: str) -> str:
    """A numeric chat id or an @channelname."""
    value = value.strip()
    if value.startswith("@") and len(value) > 1:
        return value
    try:
        int(value)
    except ValueError:
        raise ValueError(
            "must be a numeric chat id (e.g. -1001234567890) or @channelname, comma-separated"
        ) from None
    return value


def bot_tokens(value: str) -> str:
    """Comma-separated bot tokens, each bot once; the message never quotes a token."""
    tokens = [token.strip() for token in value.split(",")]
    if not all(_BOT_TOKEN.match(token) for token in tokens):
        raise ValueError("each bot token looks like 123456:ABC..., digits before the ':'")
    ids = [token.partition(":")[0] for token in tokens]
    if len(set(ids)) != len(ids):
        raise ValueError("two tokens of one bot: list each bot once")
    return ",".join(tokens)


def switch_or_size(value: str) -> str:
    """on, off, or a size such as 50GB or 500MB (decimal units)."""
    if value.strip().lower() in SWITCHES or _SIZE.match(value):
        return value.strip()
    raise ValueError("must be on, off, or a database size such as 50GB or 500MB")


def optional_chat_id(value: str | None) -> str | None:
    """A chat id, or None for an unset or empty one."""
    return None if value is None or not value.strip() else chat_id(value)


def keys(value: object) -> object:
    """Public keys separated by commas or spaces (an environment variable's text) as a tuple."""
    if isinstance(value, str):
        return tuple(key for key in value.replace(",", " ").split() if key)
    return value


def chat_ids(value: object) -> object:
    """A comma-separated list of chat ids as a tuple (an environment variable's text)."""
    if isinstance(value, str):
        return tuple(chat_id(chat) for chat in value.split(",") if chat.strip())
    return value


def names(value: object) -> object:
    """A comma-separated list of names as a tuple (an environment variable's text); as given
    otherwise (a tuple passed in code)."""
    if isinstance(value, str):
        return tuple(name.strip() for name in value.split(",") if name.strip())
    return value


def size_limit(value: str) -> int | None:
    """The bytes a `switch_or_size` value allows: None for on (no limit), 0 for off."""
    word = value.lower()
    if word in SWITCHES:
        return None if word == "on" else 0
    match = _SIZE.match(word)
    if match is None:
        raise ValueError(f"not a size: {value!r}")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2).upper()]


def project_pattern(value: str) -> str:
    """A regular expression with a named group `project`."""
    try:
        compiled = re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    if "project" not in compiled.groupindex:
        raise ValueError("needs a named group (?P<project>...): the project id")
    return value


def http_url(value: str, example: str) -> str:
    """An http(s) URL with a host, without its trailing slash."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an http(s) URL such as {example}")
    return value.rstrip("/")


MIN_SECRET_KEY = 32  # bytes: an HMAC-SHA256 key as strong as the hash


def secret_keys(value: str) -> str:
    """Comma-separated secret keys of MIN_SECRET_KEY bytes or more; the message quotes none."""
    keys = [key.strip() for key in value.split(",")]
    if not all(len(key.encode()) >= MIN_SECRET_KEY for key in keys):
        raise ValueError(f"each key is at least {MIN_SECRET_KEY} bytes (e.g. openssl rand -hex 32)")
    return ",".join(keys)
