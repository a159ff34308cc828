"""Typed settings, read once from the environment and `.env`, validated at start-up."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from worker import defaults, errors, redisconn, secret_files, setting_rules, syntax

# What an operator does when encryption is on (the default) and no recipient is given.
ENCRYPTION_FIX = (
    "set it to an age public key (age1...), or BACKUP_ENCRYPTION=off to send backups unencrypted"
)


class Settings(BaseSettings):
    """Every setting of the worker; field names are the environment variables, lower-cased."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """TELEGRAM_BOT_TOKEN_FILE and the like first (worker.secret_files), then as usual."""
        files = secret_files.SecretFiles(settings_cls)
        return init_settings, files, env_settings, dotenv_settings, file_secret_settings

    database_url: str = defaults.DEFAULT_DATABASE_URL
    celery_broker_url: str = defaults.DEFAULT_BROKER_URL
    celery_result_backend: str = defaults.DEFAULT_RESULT_BACKEND
    # Broker failover (docs/reliability.md): the primary's name when a URL is sentinel://, and
    # RabbitMQ's queue type for the worker's own queues.
    redis_sentinel_master: str | None = None
    broker_queue_type: Literal["classic", "quorum"] = defaults.DEFAULT_BROKER_QUEUE_TYPE
    source_database_url: SecretStr = SecretStr(defaults.DEFAULT_SOURCE_DATABASE_URL)

    telegram_bot_token: SecretStr | None = None
    telegram_chat_id: str | None = None
    telegram_thread_id: int | None = None
    telegram_api_url: Annotated[
        str, AfterValidator(functools.partial(syntax.http_url, example=defaults.TELEGRAM_CLOUD_API))
    ] = defaults.TELEGRAM_CLOUD_API
    telegram_upload_timeout: float = Field(default=defaults.DEFAULT_UPLOAD_TIMEOUT, gt=0)
    telegram_max_attempts: int = Field(default=defaults.DEFAULT_TELEGRAM_MAX_ATTEMPTS, ge=1, le=50)
    # Several bots and chats (comma-separated lists above), paced fleet-wide through Redis.
    telegram_retired_chat_ids: Annotated[
        tuple[str, ...], NoDecode, BeforeValidator(syntax.chat_ids)
    ] = ()
    pacer_redis_url: SecretStr | None = None
    # Copies (docs/fleet.md): more repositories (TOML), and in how many each backup is stored.
    telegram_repositories_file: Path | None = None
    backup_copies: int = Field(default=defaults.DEFAULT_BACKUP_COPIES, ge=1, le=4)
    # copies.repair by beat: seconds between runs (0: off), parts re-created per run.
    copies_repair_interval: float = Field(
        default=defaults.DEFAULT_COPIES_REPAIR_INTERVAL, ge=0, le=86400
    )
    copies_repair_parts: int = Field(default=defaults.DEFAULT_COPIES_REPAIR_PARTS, ge=1, le=10000)
    telegram_chat_per_second: int = Field(default=defaults.DEFAULT_CHAT_PER_SECOND, ge=0, le=1000)
    telegram_group_per_minute: int = Field(default=defaults.DEFAULT_GROUP_PER_MINUTE, ge=0, le=1000)
    telegram_bot_per_second: int = Field(default=defaults.DEFAULT_BOT_PER_SECOND, ge=0, le=1000)
    telegram_pacer_margin: float = Field(default=defaults.DEFAULT_PACER_MARGIN, ge=0, le=60)
    telegram_pacer_max_sleep: float = Field(default=defaults.DEFAULT_PACER_MAX_SLEEP, ge=0, le=60)
    telegram_download_timeout: float = Field(
        default=defaults.DEFAULT_DOWNLOAD_TIMEOUT, gt=0, le=86400
    )
    telegram_download_min_rate: int = Field(default=defaults.DEFAULT_DOWNLOAD_MIN_RATE, ge=0)
    telegram_local_files_dir: Path | None = None

    backup_part_size: int = Field(default=defaults.CLOUD_DOWNLOAD_LIMIT, ge=defaults.MIN_PART_SIZE)
    backup_spool_dir: Path = Field(default_factory=defaults.default_spool_dir)
    backup_encryption: Literal["age", "off"] = defaults.DEFAULT_BACKUP_ENCRYPTION
    backup_age_recipients: Annotated[tuple[str, ...], NoDecode, BeforeValidator(syntax.keys)] = ()
    backup_age_identity_file: Path | None = None
    backup_retention_days: int = Field(default=defaults.DEFAULT_RETENTION_DAYS, ge=1, le=36500)
    backup_zstd_level: int = Field(default=defaults.DEFAULT_ZSTD_LEVEL, ge=1, le=19)
    backup_zstd_threads: int = Field(default=1, ge=0, le=64)
    backup_max_attempts: int = Field(default=defaults.DEFAULT_MAX_ATTEMPTS, ge=1, le=20)
    backup_visibility_timeout: int = Field(default=defaults.DEFAULT_VISIBILITY_TIMEOUT, ge=60)
    backup_spool_retry_delay: int = Field(
        default=defaults.DEFAULT_SPOOL_RETRY_DELAY, ge=1, le=defaults.MAX_SPOOL_RETRY_DELAY
    )
    backup_retry_delay: int = Field(
        default=defaults.DEFAULT_RETRY_DELAY, ge=1, le=defaults.MAX_SPOOL_RETRY_DELAY
    )
    backup_telegram_retry_delay: int = Field(
        default=defaults.DEFAULT_TELEGRAM_RETRY_DELAY, ge=1, le=defaults.MAX_SPOOL_RETRY_DELAY
    )
    job_heartbeat_stale: int = Field(default=defaults.DEFAULT_HEARTBEAT_STALE, ge=30)
    job_pending_timeout: int = Field(default=defaults.DEFAULT_PENDING_TIMEOUT, ge=60)
    job_progress_interval: float = Field(default=defaults.DEFAULT_PROGRESS_INTERVAL, ge=0.05, le=60)
    restore_target_names: str = defaults.DEFAULT_RESTORE_TARGET_NAMES
    # Each slot is a thread of one process; the control-plane pool grows with it (runtime.build).
    worker_concurrency: int = Field(default=defaults.DEFAULT_WORKER_CONCURRENCY, ge=1, le=32)
    # Periodic work: schedules, expiry sweep, reaper, alerts.
    telegram_alert_chat_id: Annotated[str | None, AfterValidator(syntax.optional_chat_id)] = None
    schedule_dispatch_interval: float = Field(
        default=defaults.DEFAULT_DISPATCH_INTERVAL, ge=1, le=3600
    )
    maintenance_interval: float = Field(
        default=defaults.DEFAULT_MAINTENANCE_INTERVAL, ge=1, le=86400
    )
    sweep_interval: float = Field(default=defaults.DEFAULT_SWEEP_INTERVAL, ge=10, le=86400)

    flower_basic_auth: SecretStr | None = None
    log_json: bool = False
    exporter_address: str = defaults.DEFAULT_EXPORTER_ADDRESS
    exporter_port: int = Field(default=defaults.DEFAULT_EXPORTER_PORT, ge=1, le=65535)
    # 0 turns the catalog off; otherwise at most one catalog per chat per interval.
    catalog_interval: float = Field(default=defaults.DEFAULT_CATALOG_INTERVAL, ge=0, le=86400)
    # The catalog's HMAC keys, comma-separated: the first signs, each verifies (rotation).
    catalog_key: SecretStr | None = None

    # Many source servers: the registry file, and the fleet-wide limit where it names none.
    source_servers_file: Path | None = None
    source_max_dumps: int = Field(default=defaults.DEFAULT_SOURCE_MAX_DUMPS, ge=1, le=1000)
    source_lock_wait_timeout: float = Field(
        default=defaults.DEFAULT_LOCK_WAIT_TIMEOUT, gt=0, le=86400
    )
    source_slot_lease: float = Field(default=defaults.DEFAULT_SLOT_LEASE, ge=1, le=3600)
    # Whole-server backups: a regex whose group `project` is the project id in a database name.
    source_project_pattern: str | None = None

    # pg_restore --jobs (0: the host's cores); parts downloaded at once; how long an undo
    # point stays; a test hook.
    restore_jobs: int = Field(default=0, ge=0, le=64)
    restore_download_threads: int = Field(
        default=defaults.DEFAULT_RESTORE_DOWNLOAD_THREADS, ge=1, le=32
    )
    restore_undo_hours: float = Field(
        default=defaults.DEFAULT_RESTORE_UNDO_HOURS, gt=0, le=24 * 365
    )
    restore_switch_pause: float = Field(default=0, ge=0, le=3600)

    # Point-in-time recovery: the servers whose WAL is streamed, the RPO, the bundle size, the
    # streamer's lease, its spool (default: BACKUP_SPOOL_DIR/wal).
    wal_servers: Annotated[tuple[str, ...], NoDecode, BeforeValidator(syntax.names)] = ()
    wal_flush_seconds: float = Field(default=defaults.DEFAULT_WAL_FLUSH_SECONDS, ge=1, le=3600)
    wal_bundle_bytes: int = Field(default=defaults.DEFAULT_WAL_BUNDLE_BYTES, ge=1 << 20, le=1 << 34)
    wal_lease_seconds: float = Field(default=defaults.DEFAULT_WAL_LEASE_SECONDS, ge=3, le=600)
    # The newest base backups kept per server (the sweep expires the rest and the WAL before
    # the oldest kept one).
    wal_basebackup_keep: int = Field(default=defaults.DEFAULT_WAL_BASEBACKUP_KEEP, ge=1, le=1000)
    wal_basebackup_hours: float = Field(
        default=defaults.DEFAULT_WAL_BASEBACKUP_HOURS, ge=0, le=24 * 366
    )
    wal_spool_dir: Path | None = None

    # Restore drills: what a backup counts, how often and how many drills, and where.
    backup_row_counts: Annotated[str, AfterValidator(syntax.switch_or_size)] = (
        defaults.DEFAULT_BACKUP_ROW_COUNTS
    )
    drill_period_days: float = Field(default=defaults.DEFAULT_DRILL_PERIOD_DAYS, gt=0, le=3650)
    drill_concurrency: int = Field(default=defaults.DEFAULT_DRILL_CONCURRENCY, ge=1, le=100)
    drill_server: str | None = None

    @field_validator("source_project_pattern")
    @classmethod
    def _project_pattern(cls, value: str | None) -> str | None:
        return syntax.project_pattern(value) if value else None

    @field_validator("telegram_chat_id")
    @classmethod
    def _chat_ids(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return ",".join(syntax.chat_id(chat) for chat in value.split(","))

    @field_validator("telegram_bot_token")
    @classmethod
    def _tokens(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        return SecretStr(syntax.bot_tokens(value.get_secret_value()))

    @field_validator("catalog_key")
    @classmethod
    def _catalog_keys(cls, value: SecretStr | None) -> SecretStr | None:
        keys = value.get_secret_value().strip() if value is not None else ""
        return SecretStr(syntax.secret_keys(keys)) if keys else None

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        pacer = self.pacer_redis_url.get_secret_value() if self.pacer_redis_url else ""
        setting_rules.part_size_fits_api(self.telegram_api_url, self.backup_part_size)
        setting_rules.retry_before_redelivery(
            self.backup_spool_retry_delay, self.backup_visibility_timeout
        )
        setting_rules.sentinel_named(
            (self.celery_broker_url, self.celery_result_backend, pacer),
            self.redis_sentinel_master,
        )
        setting_rules.quorum_on_rabbitmq(self.broker_queue_type, self.celery_broker_url)
        setting_rules.encryption_said_once(self.backup_encryption, self.backup_age_recipients)
        setting_rules.a_chat_left(self.telegram_chat_ids, self.active_chat_ids)
        return self

    @property
    def telegram_bot_tokens(self) -> tuple[SecretStr, ...]:
        """Every configured bot token, the first one first (TELEGRAM_BOT_TOKEN, comma-separated)."""
        if self.telegram_bot_token is None:
            return ()
        return tuple(SecretStr(t) for t in self.telegram_bot_token.get_secret_value().split(","))

    @property
    def catalog_keys(self) -> tuple[bytes, ...]:
        """The catalog's HMAC keys (CATALOG_KEY), the signing one first; () when unset."""
        secret = self.catalog_key.get_secret_value() if self.catalog_key else ""
        return tuple(k.encode() for k in secret.split(",") if k)

    @property
    def telegram_chat_ids(self) -> tuple[str, ...]:
        """Every configured chat, the first one first (TELEGRAM_CHAT_ID, comma-separated)."""
        return tuple(self.telegram_chat_id.split(",")) if self.telegram_chat_id else ()

    @property
    def active_chat_ids(self) -> tuple[str, ...]:
        """The chats new parts may go to: the configured ones that are not retired."""
        retired = set(self.telegram_retired_chat_ids)
        return tuple(chat for chat in self.telegram_chat_ids if chat not in retired)

    @property
    def pacer_url(self) -> str | None:
        """The pacer's Redis: PACER_REDIS_URL, else the broker when it is Redis, else none."""
        if self.pacer_redis_url is not None:
            return self.pacer_redis_url.get_secret_value()
        if redisconn.is_redis(self.celery_broker_url):
            return self.celery_broker_url
        return None

    @property
    def row_counts_limit(self) -> int | None:
        """The largest database (bytes) whose rows a backup counts; None: no limit, 0: never."""
        return syntax.size_limit(self.backup_row_counts)

    @property
    def alert_chat_id(self) -> str | None:
        """Where alerts go: TELEGRAM_ALERT_CHAT_ID, else the first backup chat."""
        return self.telegram_alert_chat_id or next(iter(self.active_chat_ids), None)

    @property
    def encryption_missing(self) -> str | None:
        """Why a worker may not back up as configured (encryption on, no recipients), or None."""
        if self.backup_encryption == "age" and not self.backup_age_recipients:
            return f"BACKUP_AGE_RECIPIENTS is not set: {ENCRYPTION_FIX}"
        return None

    def require_encryption(self) -> None:
        """ConfigError when encryption is on (the default) and no recipient is set: what the
        worker refuses at start, refused by the commands that back up or upload too."""
        if self.encryption_missing is not None:
            raise errors.ConfigError(self.encryption_missing)

    @property
    def telegram_configured(self) -> bool:
        return self.telegram_bot_token is not None and self.telegram_chat_id is not None


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors(include_url=False, include_input=False):
        name = "_".join(str(part) for part in item["loc"]).upper() or "settings"
        lines.append(f"{name}: {item['msg']}")
    return "invalid configuration: " + "; ".join(lines)


def load() -> Settings:
    """Read and validate the settings; raise ConfigError naming each bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        raise errors.ConfigError(_describe(exc)) from None


@functools.cache
def current() -> Settings:
    """The process's settings, read on first use (never at import time)."""
    return load()
