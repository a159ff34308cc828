from __future__ import annotations

import pytest

from worker import errors, settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.chdir(str(tmp_path))  # no .env from the developer's checkout
    for name in list(settings.Settings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)


def test_defaults_point_at_local_services() -> None:
    config = settings.load()
    assert config.celery_broker_url.startswith("redis://127.0.0.1")
    assert config.backup_part_size == 20_000_000
    assert config.backup_retention_days == 30
    assert config.backup_age_recipients == ()
    assert not config.telegram_configured


def test_malformed_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKUP_PART_SIZE", "twenty megabytes")
    with pytest.raises(errors.ConfigError, match="BACKUP_PART_SIZE"):
        settings.load()


def test_part_size_above_the_cloud_download_limit_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BACKUP_PART_SIZE", str(20 * 1024 * 1024))
    with pytest.raises(errors.ConfigError, match="restore would fail"):
        settings.load()


def test_local_bot_api_server_allows_bigger_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:8081/")
    monkeypatch.setenv("BACKUP_PART_SIZE", str(200_000_000))
    config = settings.load()
    assert config.backup_part_size == 200_000_000
    assert config.telegram_api_url == "http://127.0.0.1:8081"


def test_chat_id_must_be_numeric_or_a_channel_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "my chat")
    with pytest.raises(errors.ConfigError, match="TELEGRAM_CHAT_ID"):
        settings.load()
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "@backups")
    assert settings.load().telegram_chat_id == "@backups"


def test_secret_values_are_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:secret-token-value")
    monkeypatch.setenv("TELEGRAM_THREAD_ID", "not-a-number")
    with pytest.raises(errors.ConfigError) as caught:
        settings.load()
    assert "TELEGRAM_THREAD_ID" in str(caught.value)
    assert "secret-token-value" not in str(caught.value)
    assert "secret-token-value" not in repr(settings.Settings(telegram_thread_id=1))


def test_age_recipients_split_on_commas_and_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKUP_AGE_RECIPIENTS", "age1aaa, age1bbb  age1ccc")
    assert settings.load().backup_age_recipients == ("age1aaa", "age1bbb", "age1ccc")


def test_encryption_is_on_by_default_and_off_only_when_said(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = settings.load()
    assert config.backup_encryption == "age"
    assert config.encryption_missing is not None
    assert "BACKUP_ENCRYPTION=off" in config.encryption_missing
    with pytest.raises(errors.ConfigError, match=r"^BACKUP_AGE_RECIPIENTS is not set: "):
        config.require_encryption()
    monkeypatch.setenv("BACKUP_AGE_RECIPIENTS", "age1aaa")
    assert settings.load().encryption_missing is None
    monkeypatch.setenv("BACKUP_ENCRYPTION", "off")
    with pytest.raises(errors.ConfigError, match="unset one of them"):
        settings.load()  # off and recipients: which was meant cannot be told
    monkeypatch.delenv("BACKUP_AGE_RECIPIENTS")
    assert settings.load().encryption_missing is None
    monkeypatch.setenv("BACKUP_ENCRYPTION", "no")
    with pytest.raises(errors.ConfigError, match="BACKUP_ENCRYPTION"):
        settings.load()


def test_env_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    from pathlib import Path

    Path(str(tmp_path), ".env").write_text("BACKUP_RETENTION_DAYS=7\n")
    assert settings.load().backup_retention_days == 7


def test_spool_retry_delay_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings.load().backup_spool_retry_delay == 60
    monkeypatch.setenv("BACKUP_SPOOL_RETRY_DELAY", "0")
    with pytest.raises(errors.ConfigError, match="BACKUP_SPOOL_RETRY_DELAY"):
        settings.load()
    # Redis would deliver the waiting message to a second worker before it is due.
    monkeypatch.setenv("BACKUP_SPOOL_RETRY_DELAY", "61")
    monkeypatch.setenv("BACKUP_VISIBILITY_TIMEOUT", "60")
    with pytest.raises(errors.ConfigError, match="must not be above BACKUP_VISIBILITY_TIMEOUT"):
        settings.load()
