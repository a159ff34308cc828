"""<NAME>_FILE: secrets read from files (Compose secrets, systemd credentials), never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker import errors, secret_files, settings

TOKEN = "123456:TEST-token-ABCdefGHIjklMNOpqrSTUvwxYZ012345"
KEY = "catalog-key-from-a-file-0123456789abcdef"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout
    for name in list(settings.Settings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(f"{name.upper()}_FILE", raising=False)


def secret(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_secrets_come_from_their_files_without_the_last_newline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = "postgresql+psycopg2://backup:s3cret-pass@db:5432/control"
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN_FILE", str(secret(tmp_path, "token", TOKEN + "\n")))
    monkeypatch.setenv("CATALOG_KEY_FILE", str(secret(tmp_path, "key", KEY + "\n")))
    monkeypatch.setenv("DATABASE_URL_FILE", str(secret(tmp_path, "db", url + "\n")))
    config = settings.load()
    assert config.telegram_bot_token is not None
    assert config.telegram_bot_token.get_secret_value() == TOKEN
    assert config.catalog_keys == (KEY.encode(),)
    assert config.database_url == url
    assert TOKEN not in repr(config)


def test_the_file_variable_goes_through_the_same_checks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CATALOG_KEY_FILE", str(secret(tmp_path, "key", "short\n")))
    with pytest.raises(errors.ConfigError, match=r"CATALOG_KEY.*at least 32 bytes") as caught:
        settings.load()
    assert "short" not in caught.value.message


def test_both_the_variable_and_its_file_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN_FILE", str(secret(tmp_path, "token", TOKEN)))
    with pytest.raises(errors.ConfigError) as caught:
        settings.load()
    assert caught.value.message == (
        "TELEGRAM_BOT_TOKEN and TELEGRAM_BOT_TOKEN_FILE are both set: keep one"
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "cannot read it (No such file or directory)"),
        ("", "the file is empty"),
        ("\n  \n", "the file is empty"),
        (b"\xff\xfe", "not UTF-8 text"),
        ("x" * (secret_files.MAX_SIZE + 1), "not a secret"),
    ],
)
def test_an_unusable_file_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str | bytes | None, reason: str
) -> None:
    path = tmp_path / "flower"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    monkeypatch.setenv("FLOWER_BASIC_AUTH_FILE", str(path))
    with pytest.raises(errors.ConfigError) as caught:
        settings.load()
    assert caught.value.message.startswith(f"FLOWER_BASIC_AUTH_FILE={path}: ")
    assert caught.value.message.endswith(reason)
    assert "\n" not in caught.value.message


def test_every_secret_setting_has_a_file_variant() -> None:
    fields = settings.Settings.model_fields
    assert set(secret_files.NAMES) <= set(fields)
    secrets = {name for name, field in fields.items() if "SecretStr" in str(field.annotation)}
    assert secrets <= set(secret_files.NAMES)


def test_flower_gets_the_credentials_from_the_file_and_not_the_file_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from worker.cli.commands import flower

    path = secret(tmp_path, "flower", "admin:a-long-flower-password\n")
    monkeypatch.setenv("FLOWER_BASIC_AUTH_FILE", str(path))
    environ = {"FLOWER_BASIC_AUTH_FILE": str(path), "PATH": "/usr/bin"}
    _, env = flower.invocation(
        settings.load(), address="127.0.0.1", port=5555, extra=(), environ=environ
    )
    assert env["FLOWER_BASIC_AUTH"] == "admin:a-long-flower-password"
    assert "FLOWER_BASIC_AUTH_FILE" not in env
    monkeypatch.setattr("os.environ", env)
    assert settings.load().flower_basic_auth is not None  # Flower's own process starts
