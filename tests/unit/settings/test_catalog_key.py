"""CATALOG_KEY: a list of secrets of 32 bytes or more, checked at start, never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker import errors, logs, redact, settings

NEW = "new-catalog-key-0123456789abcdef0123456789"
OLD = "old-catalog-key-0123456789abcdef0123456789"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout
    for name in list(settings.Settings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)


def test_unset_means_no_key() -> None:
    assert settings.load().catalog_keys == ()


def test_keys_are_listed_the_signing_one_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATALOG_KEY", f" {NEW} , {OLD}")
    config = settings.load()
    assert config.catalog_keys == (NEW.encode(), OLD.encode())
    assert NEW not in repr(config)


def test_a_short_key_is_refused_at_start_without_showing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CATALOG_KEY", f"{NEW},short-secret-31-bytes-long-xxxx")
    with pytest.raises(errors.ConfigError, match=r"CATALOG_KEY.*at least 32 bytes") as caught:
        settings.load()
    assert "short-secret" not in caught.value.message


def test_the_keys_are_redacted_from_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATALOG_KEY", f"{NEW},{OLD}")
    secrets = logs.secrets_of(settings.load())
    assert {NEW, OLD} <= set(secrets)
    text = redact.redact(f"key={NEW} old={OLD}", *secrets)
    assert NEW not in text
    assert OLD not in text
