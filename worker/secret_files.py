"""Secrets read from files: `<NAME>_FILE` names a file whose content is the setting `<NAME>`.

Compose's `secrets:` mount files under /run/secrets, systemd's LoadCredential= under
$CREDENTIALS_DIRECTORY; neither then puts the secret in the process environment, where
`/proc/<pid>/environ`, `docker inspect` and crash reports would show it. A settings source of
pydantic-settings (worker.settings adds it first, so it wins over the environment and .env).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from worker import errors

# The settings that may hold a password or a token; each also reads <NAME>_FILE.
NAMES = (
    "database_url",
    "celery_broker_url",
    "celery_result_backend",
    "source_database_url",
    "pacer_redis_url",
    "telegram_bot_token",
    "flower_basic_auth",
    "catalog_key",
)
MAX_SIZE = 64 * 1024  # bytes: a secret file larger than this is a wrong path, not a secret


class SecretFiles(PydanticBaseSettingsSource):
    """The settings of NAMES whose `<NAME>_FILE` variable is set, read from those files."""

    def __init__(
        self, settings_cls: type[BaseSettings], environ: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(settings_cls)
        self._environ = os.environ if environ is None else environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: __call__ reads every file at once."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name in NAMES:
            variable = name.upper()
            path = self._environ.get(f"{variable}_FILE", "").strip()
            if not path:
                continue
            if self._environ.get(variable, "").strip():
                raise errors.ConfigError(f"{variable} and {variable}_FILE are both set: keep one")
            found[name] = read(f"{variable}_FILE", Path(path))
        return found


def read(variable: str, path: Path) -> str:
    """The secret in `path`, without its surrounding whitespace (the file's last newline)."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_SIZE + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise errors.ConfigError(f"{variable}={path}: cannot read it ({reason})") from None
    if len(raw) > MAX_SIZE:
        raise errors.ConfigError(f"{variable}={path}: over {MAX_SIZE} bytes, not a secret")
    try:
        secret = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise errors.ConfigError(f"{variable}={path}: not UTF-8 text") from None
    if not secret:
        raise errors.ConfigError(f"{variable}={path}: the file is empty")
    return secret
