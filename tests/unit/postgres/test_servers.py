"""The registry of source servers: the TOML file, `default`, and every refusal naming its place."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker import defaults, errors, settings
from worker.postgres import servers, source

SECRET = "s3cr3t-PASSWORD-value"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout
    for name in list(settings.Settings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "servers.toml"
    path.write_text(text)
    return path


def password_file(tmp_path: Path, content: str = SECRET + "\n") -> Path:
    path = tmp_path / "eu1.password"
    path.write_text(content)
    path.chmod(0o600)
    return path


def load(monkeypatch: pytest.MonkeyPatch, path: Path | None, **env: str) -> servers.Registry:
    if path is not None:
        monkeypatch.setenv("SOURCE_SERVERS_FILE", str(path))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return servers.Registry.load(settings.load())


def test_without_a_file_the_registry_is_source_database_url_as_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = load(
        monkeypatch,
        None,
        SOURCE_DATABASE_URL=f"postgresql://app:{SECRET}@db.internal:6432/postgres",
    )
    assert registry.names() == ["default"]
    server = registry.get("default")
    assert server.max_dumps == defaults.DEFAULT_SOURCE_MAX_DUMPS == 2
    params = server.params()
    assert params.password == SECRET
    assert params.location == "db.internal:6432"
    assert SECRET not in repr(server)


def test_file_servers_with_password_files_and_limits(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = password_file(tmp_path)
    path = write(
        tmp_path,
        f"""
        [servers.eu1]
        url = "postgresql://backup@eu1.db:5432/postgres?sslmode=require"
        password_file = "{secret}"
        max_dumps = 4

        [servers.us-2]
        url = "postgresql://backup@us2.db/postgres"
        """,
    )
    registry = load(monkeypatch, path, SOURCE_MAX_DUMPS="3")
    assert registry.names() == ["default", "eu1", "us-2"]
    eu1 = registry.get("eu1")
    assert eu1.max_dumps == 4
    assert registry.get("us-2").max_dumps == 3  # SOURCE_MAX_DUMPS where the file says nothing
    params = eu1.params()
    assert params.password == SECRET  # the line break is not part of it
    assert params.get("sslmode") == "require"
    assert SECRET not in params.conninfo()
    assert params.env()["PGPASSWORD"] == SECRET
    # Read at each connection: a rotated secret is picked up without a restart.
    secret.write_text("rotated\n")
    assert eu1.params().password == "rotated"


def test_default_from_the_file_wins_when_source_database_url_is_unset(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = write(tmp_path, '[servers.default]\nurl = "postgresql://backup@primary.db/postgres"\n')
    registry = load(monkeypatch, path)
    assert registry.default.params().location == "primary.db:5432"


def test_default_in_both_places_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write(tmp_path, '[servers.default]\nurl = "postgresql://backup@primary.db/postgres"\n')
    with pytest.raises(errors.ConfigError, match=r"\[servers.default\] and SOURCE_DATABASE_URL"):
        load(monkeypatch, path, SOURCE_DATABASE_URL="postgresql://postgres@127.0.0.1/postgres")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[servers.EU1]\nurl = "postgresql://a@h/d"\n', r"\[servers.EU1\]: bad server name"),
        ('[servers."eu 1"]\nurl = "postgresql://a@h/d"\n', r"\[servers.eu 1\]: bad server name"),
        ("[servers.eu1]\nmax_dumps = 2\n", r"\[servers.eu1\] url: missing"),
        ('[servers.eu1]\nurl = ""\n', r"\[servers.eu1\] url: missing"),
        ('[servers.eu1]\nurl = "postgresql://a@h/d"\nmax_dumps = 0\n', r"eu1\] max_dumps"),
        ('[servers.eu1]\nurl = "postgresql://a@h/d"\nmax_dumps = "2"\n', r"eu1\] max_dumps"),
        ('[servers.eu1]\nurl = "postgresql://a@h/d"\nmax_dumps = true\n', r"eu1\] max_dumps"),
        ('[servers.eu1]\nurl = "postgresql://a@h/d"\nmax_dumps = 1.5\n', r"eu1\] max_dumps"),
        (
            '[servers.eu1]\nurl = "postgresql://a@h/d"\npasword_file = "/x"\n',
            r"\[servers.eu1\]: unknown key\(s\) pasword_file",
        ),
        ('[server.eu1]\nurl = "postgresql://a@h/d"\n', r"unknown top-level key\(s\) server"),
        ("", r"no \[servers.NAME\] table"),
        ('servers = "eu1"\n', r"no \[servers.NAME\] table"),
        ('[servers]\neu1 = "postgresql://a@h/d"\n', r"\[servers.eu1\]: must be a table"),
        ('[servers.eu1]\nurl = "postgresql://a@h:port/d"\n', r"\[servers.eu1\] url: the port"),
        ('[servers.eu1]\nurl = "postgresql://a@h/d\n', r"not valid TOML"),
    ],
)
def test_bad_files_are_refused_naming_server_and_field(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(errors.ConfigError, match=expected) as caught:
        load(monkeypatch, write(tmp_path, text))
    assert str(tmp_path / "servers.toml") in caught.value.message


def test_embedded_password_alongside_password_file_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = password_file(tmp_path)
    path = write(
        tmp_path,
        f'[servers.eu1]\nurl = "postgresql://a:{SECRET}@h/d"\npassword_file = "{secret}"\n',
    )
    with pytest.raises(errors.ConfigError, match=r"\[servers.eu1\] url: has a password") as caught:
        load(monkeypatch, path)
    assert SECRET not in caught.value.message


@pytest.mark.parametrize("content", [None, "", "\n", "two\nlines\n"])
def test_unreadable_or_malformed_password_file_fails_at_load(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str | None
) -> None:
    secret = tmp_path / "missing.password"
    if content is not None:
        secret.write_text(content)
    path = write(
        tmp_path, f'[servers.eu1]\nurl = "postgresql://a@h/d"\npassword_file = "{secret}"\n'
    )
    with pytest.raises(errors.ConfigError, match=r"\[servers.eu1\] password_file") as caught:
        load(monkeypatch, path)
    assert "lines" not in caught.value.message


def test_password_file_that_is_a_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write(
        tmp_path, f'[servers.eu1]\nurl = "postgresql://a@h/d"\npassword_file = "{tmp_path}"\n'
    )
    with pytest.raises(errors.ConfigError, match="Is a directory"):
        load(monkeypatch, path)


def test_missing_registry_file_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(errors.ConfigError, match="SOURCE_SERVERS_FILE: cannot read"):
        load(monkeypatch, tmp_path / "nope.toml")


def test_unknown_server_names_the_known_ones(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    registry = load(monkeypatch, write(tmp_path, '[servers.eu1]\nurl = "postgresql://a@h/d"\n'))
    with pytest.raises(errors.InputError, match="'us1': known servers are default, eu1"):
        registry.get("us1")
    with pytest.raises(errors.InputError, match="must be a string"):
        registry.get(7)
    assert registry.get("eu1").name == "eu1"
    assert len(registry) == 2


def test_source_max_dumps_must_be_positive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_MAX_DUMPS", "0")
    with pytest.raises(errors.ConfigError, match="SOURCE_MAX_DUMPS"):
        settings.load()


def test_libpq_errors_name_the_server_and_where_it_is_configured(tmp_path: Path) -> None:
    path = tmp_path / "servers.toml"
    path.write_text('[servers.eu1]\nurl = "postgresql://backup@eu1.internal:6432/postgres"\n')
    eu1 = servers.read_file(path, 2)["eu1"].params()
    refused = (
        'pg_dump: error: connection to server at "eu1.internal" (10.0.0.5), port 6432 failed: '
        "Connection refused\n"
    )
    assert source.describe_libpq_error(eu1, refused) == (
        "server eu1 (eu1.internal:6432) refused the connection: is PostgreSQL running there, "
        f"and is [servers.eu1] in {path} right?"
    )
    wrong = 'FATAL:  password authentication failed for user "backup"'
    assert source.describe_libpq_error(eu1, wrong) == (
        f'server eu1 (eu1.internal:6432) rejected the password of user "backup": check '
        f"[servers.eu1] in {path}"
    )
    default = source.SourceParams.from_url("postgresql://u@db1:5433/x")
    assert source.describe_libpq_error(default, wrong).endswith("check SOURCE_DATABASE_URL")
