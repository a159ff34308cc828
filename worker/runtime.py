"""Per-process resources: settings, the control-plane database, the Telegram client.

Built lazily on first use in each process, and built again after a fork (the pid changes):
connection pools and HTTP sessions must never be shared between a Celery parent and its children.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from db import session as db_session
from worker import errors, settings, source, telegram


@dataclass
class Runtime:
    """What a task needs to do its work, passed to the domain functions."""

    settings: settings.Settings
    database: db_session.Database
    _telegram: telegram.TelegramClient | None = field(default=None, repr=False)

    def telegram(self) -> telegram.TelegramClient:
        """The Bot API client; ConfigError when no bot token is configured."""
        if self._telegram is None:
            token = self.settings.telegram_bot_token
            if token is None or not token.get_secret_value():
                raise errors.ConfigError(
                    "TELEGRAM_BOT_TOKEN is not set: no chat to send backups to"
                )
            self._telegram = telegram.TelegramClient(
                token.get_secret_value(),
                self.settings.telegram_api_url,
                timeout=self.settings.telegram_upload_timeout,
                max_attempts=self.settings.telegram_max_attempts,
            )
        return self._telegram

    def chat_id(self) -> str:
        """The configured backup chat; ConfigError when missing."""
        if self.settings.telegram_chat_id is None:
            raise errors.ConfigError("TELEGRAM_CHAT_ID is not set: no chat to send backups to")
        return self.settings.telegram_chat_id

    def source(self) -> source.SourceParams:
        """libpq parameters of the server whose databases are dumped."""
        return source.SourceParams.from_url(self.settings.source_database_url.get_secret_value())

    def close(self) -> None:
        """Release the pool and the HTTP session."""
        if self._telegram is not None:
            self._telegram.close()
        self.database.dispose()


_current: Runtime | None = None
_pid: int | None = None


def build(config: settings.Settings) -> Runtime:
    """A runtime for the given settings (used by tests and the CLI)."""
    return Runtime(settings=config, database=db_session.Database(config.database_url))


def current() -> Runtime:
    """This process's runtime, built on first use after start or fork."""
    global _current, _pid  # noqa: PLW0603 - one runtime per process, by design
    if _current is None or _pid != os.getpid():
        _current = build(settings.current())
        _pid = os.getpid()
    return _current
