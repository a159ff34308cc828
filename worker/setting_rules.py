"""Rules across settings: each checks values that are valid alone and wrong together.

worker.settings calls them once, after every field is read; each raises ValueError with the
line the operator reads (pydantic turns it into the settings' validation error).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from worker import defaults, errors, redisconn


def part_size_fits_api(api_url: str, part_size: int) -> None:
    """A part the Bot API in use can take, and the cloud one can give back."""
    cloud = urlsplit(api_url).hostname == urlsplit(defaults.TELEGRAM_CLOUD_API).hostname
    limit = defaults.CLOUD_DOWNLOAD_LIMIT if cloud else defaults.LOCAL_SERVER_UPLOAD_LIMIT
    if part_size > limit:
        raise ValueError(
            f"BACKUP_PART_SIZE={part_size} is above {limit} bytes: "
            + (
                "the cloud Bot API cannot download such parts again, so restore would fail"
                if cloud
                else "a local Bot API server accepts at most 2000 MB per file"
            )
        )


def retry_before_redelivery(spool_retry_delay: int, visibility_timeout: int) -> None:
    # Redis would hand the delayed backups.create to a second worker before it is due.
    # (BACKUP_RETRY_DELAY and BACKUP_TELEGRAM_RETRY_DELAY grow with each attempt and are
    # capped at the visibility timeout where they are used: worker.jobs.retry.delay.)
    if spool_retry_delay > visibility_timeout:
        raise ValueError(
            f"BACKUP_SPOOL_RETRY_DELAY={spool_retry_delay} must not be above "
            f"BACKUP_VISIBILITY_TIMEOUT={visibility_timeout}"
        )


def sentinel_named(urls: Iterable[str], master: str | None) -> None:
    """Every sentinel:// URL well formed, and the primary's name given."""
    for url in (url for url in urls if redisconn.is_sentinel(url)):
        try:
            redisconn.Sentinels.parse(url)
        except errors.ConfigError as exc:  # its message never shows the password
            raise ValueError(exc.message) from None
        if not master:
            raise ValueError(
                "a sentinel:// URL is set, and REDIS_SENTINEL_MASTER (the primary's name "
                "in the sentinels' configuration) is not"
            )


def quorum_on_rabbitmq(queue_type: str, broker_url: str) -> None:
    if queue_type == "quorum" and not broker_url.startswith(("amqp://", "amqps://", "pyamqp://")):
        raise ValueError(
            "BROKER_QUEUE_TYPE=quorum is RabbitMQ's: CELERY_BROKER_URL must be amqp://"
        )


def encryption_said_once(encryption: str, recipients: tuple[str, ...]) -> None:
    # Both set is a contradiction: which one the operator meant cannot be told.
    if encryption == "off" and recipients:
        raise ValueError(
            "BACKUP_ENCRYPTION=off but BACKUP_AGE_RECIPIENTS is set: unset one of them"
        )


def a_chat_left(chats: tuple[str, ...], active: tuple[str, ...]) -> None:
    if chats and not active:
        raise ValueError("TELEGRAM_RETIRED_CHAT_IDS retires every chat of TELEGRAM_CHAT_ID")
