"""TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID as lists, retired chats, the pacer's settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker import defaults, errors, settings
from worker.jobs import runtime

ONE = "123456:first-SECRET-abcdefghijklmnopqrstuvwxyz"
TWO = "654321:second-SECRET-abcdefghijklmnopqrstuvwxy"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout
    for name in list(settings.Settings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)


def test_one_token_and_one_chat_read_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", ONE)
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "-1001")
    config = settings.load()
    assert config.telegram_bot_token is not None
    assert config.telegram_bot_token.get_secret_value() == ONE
    assert config.telegram_chat_id == "-1001"
    assert [t.get_secret_value() for t in config.telegram_bot_tokens] == [ONE]
    assert config.telegram_chat_ids == config.active_chat_ids == ("-1001",)
    assert config.alert_chat_id == "-1001"


def test_lists_keep_their_order_and_lose_their_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", f" {ONE} , {TWO}")
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "-1001, @backups ,-1003")
    monkeypatch.setenv("TELEGRAM_RETIRED_CHAT_IDS", "-1001")
    config = settings.load()
    assert [t.get_secret_value() for t in config.telegram_bot_tokens] == [ONE, TWO]
    assert config.telegram_chat_ids == ("-1001", "@backups", "-1003")
    assert config.active_chat_ids == ("@backups", "-1003")
    assert config.alert_chat_id == "@backups"


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("TELEGRAM_BOT_TOKEN", f"{ONE},not-a-token", "digits before the ':'"),
        ("TELEGRAM_BOT_TOKEN", f"{ONE},123456:another-secret", "two tokens of one bot"),
        ("TELEGRAM_CHAT_ID", "-1001,sales", "numeric chat id"),
        ("TELEGRAM_RETIRED_CHAT_IDS", "x", "numeric chat id"),
    ],
)
def test_a_bad_list_names_the_variable_and_never_the_token(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, complaint: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(errors.ConfigError) as caught:
        settings.load()
    assert variable in caught.value.message
    assert complaint in caught.value.message
    assert "SECRET" not in caught.value.message
    assert "secret" not in caught.value.message


def test_retiring_every_chat_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "-1001,-1002")
    monkeypatch.setenv("TELEGRAM_RETIRED_CHAT_IDS", "-1002,-1001")
    with pytest.raises(errors.ConfigError, match="retires every chat"):
        settings.load()


def test_the_pacer_uses_its_own_redis_else_a_redis_broker_else_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert settings.load().pacer_url == defaults.DEFAULT_BROKER_URL
    monkeypatch.setenv("CELERY_BROKER_URL", "amqp://guest@127.0.0.1:5672//")
    assert settings.load().pacer_url is None
    monkeypatch.setenv("PACER_REDIS_URL", "redis://127.0.0.1:6379/7")
    assert settings.load().pacer_url == "redis://127.0.0.1:6379/7"


def test_the_runtime_gives_each_bot_its_client_and_names_an_unknown_one() -> None:
    config = settings.Settings(telegram_bot_token=f"{ONE},{TWO}", telegram_chat_id="-1001")
    rt = runtime.build(config)
    try:
        assert rt.bots() == ("123456", "654321")
        assert rt.telegram() is rt.telegram("123456")  # NULL bot_id: the first bot
        assert rt.telegram("654321") is not rt.telegram("123456")
        with pytest.raises(errors.ConfigError, match="bot 777777 is not configured"):
            rt.telegram("777777")
    finally:
        rt.close()
