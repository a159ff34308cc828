"""Repositories: the TOML file, `default` from the single-bot settings, and every refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker import errors, settings
from worker.telegram import repositories

TOKEN_A = "111:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
TOKEN_B = "222:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
TOKEN_C = "333:CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout
    for name in list(settings.Settings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)


def tokens(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.tokens"
    path.write_text(text + "\n")
    return path


def load(
    monkeypatch: pytest.MonkeyPatch, toml: str | None, **env: str
) -> repositories.Repositories:
    if toml is not None:
        path = Path("repositories.toml")
        path.write_text(toml)
        monkeypatch.setenv("TELEGRAM_REPOSITORIES_FILE", str(path.resolve()))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return repositories.Repositories.load(settings.load())


def test_single_bot_settings_are_one_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    repos = load(monkeypatch, None, TELEGRAM_BOT_TOKEN=TOKEN_A, TELEGRAM_CHAT_ID="-100,-200")
    assert repos.names() == ["default"]
    assert repos.copies == 1
    [only] = repos.targets
    assert only.chat_ids == ("-100", "-200")
    assert only.bot_ids == ("111",)
    assert TOKEN_A not in repr(only)


def test_file_repositories_follow_default_and_copies_pick_the_first(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    b = tokens(tmp_path, "b", TOKEN_B)
    c = tokens(tmp_path, "c", TOKEN_C)
    repos = load(
        monkeypatch,
        f'[repositories.zeta]\nbot_token_file = "{c}"\nchat_ids = ["-300"]\n'
        f'[repositories.alpha]\nbot_token_file = "{b}"\nchat_ids = ["-200", "@spare"]\n'
        "thread_id = 7\n",
        TELEGRAM_BOT_TOKEN=TOKEN_A,
        TELEGRAM_CHAT_ID="-100",
        BACKUP_COPIES="2",
    )
    assert repos.names() == ["default", "alpha", "zeta"]
    assert [repo.name for repo in repos.targets] == ["default", "alpha"]
    alpha = repos.get("alpha")
    assert alpha.chat_ids == ("-200", "@spare")
    assert alpha.thread_id == 7
    assert [t.get_secret_value() for t in alpha.bot_tokens] == [TOKEN_B]
    assert repos.holding("-300") is repos.get("zeta")
    assert repos.holding("-999") is None


def test_more_copies_than_repositories_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(errors.ConfigError, match="BACKUP_COPIES=2 but only 1"):
        load(
            monkeypatch, None, TELEGRAM_BOT_TOKEN=TOKEN_A, TELEGRAM_CHAT_ID="-1", BACKUP_COPIES="2"
        )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('bot_token_file = "{b}"\nchat_ids = ["-100"]\n', "share chat -100"),
        ('bot_token_file = "{a}"\nchat_ids = ["-200"]\n', "share bot 111"),
        ('bot_token_file = "{b}"\n', "chat_ids: missing"),
        ('bot_token_file = "{b}"\nchat_ids = ["x"]\n', "numeric chat id"),
        ('chat_ids = ["-200"]\n', "bot_token_file: missing"),
        ('bot_token_file = "{b}"\nchat_ids = ["-200"]\ntoken = "1"\n', "unknown key"),
        ('bot_token_file = "{bad}"\nchat_ids = ["-200"]\n', "123456:ABC"),
        ('bot_token_file = "{none}"\nchat_ids = ["-200"]\n', "cannot read"),
    ],
)
def test_bad_tables_are_refused_naming_the_place(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, table: str, message: str
) -> None:
    paths = {
        "a": tokens(tmp_path, "a", TOKEN_A),
        "b": tokens(tmp_path, "b", TOKEN_B),
        "bad": tokens(tmp_path, "bad", "not-a-token-" + TOKEN_C),
        "none": tmp_path / "missing.tokens",
    }
    with pytest.raises(errors.ConfigError, match=message) as caught:
        load(
            monkeypatch,
            "[repositories.spare]\n" + table.format(**paths),
            TELEGRAM_BOT_TOKEN=TOKEN_A,
            TELEGRAM_CHAT_ID="-100",
        )
    assert TOKEN_A not in caught.value.message
    assert TOKEN_C not in caught.value.message
    if "share" not in message:
        assert "[repositories.spare]" in caught.value.message


def test_default_in_both_places_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    b = tokens(tmp_path, "b", TOKEN_B)
    with pytest.raises(errors.ConfigError, match="both define the repository 'default'"):
        load(
            monkeypatch,
            f'[repositories.default]\nbot_token_file = "{b}"\nchat_ids = ["-200"]\n',
            TELEGRAM_BOT_TOKEN=TOKEN_A,
            TELEGRAM_CHAT_ID="-100",
        )


def test_the_worker_refuses_to_start_without_a_repository_per_copy(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from worker import app
    from worker.jobs import runtime

    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN_A)
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "-100")
    monkeypatch.setenv("BACKUP_COPIES", "2")
    rt = runtime.Runtime(settings=settings.load(), database=None)  # type: ignore[arg-type]
    monkeypatch.setattr(runtime, "current", lambda: rt)
    with pytest.raises(SystemExit):
        app.check_servers()
    assert "BACKUP_COPIES=2 but only 1 Telegram repository" in capsys.readouterr().err
