"""The CLI's boundary: each failure becomes one line and its exit status, secrets redacted.

The exceptions are the real ones: a kombu connection and a SQLAlchemy engine pointed at a
port nobody listens on.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import click
import kombu
import pytest
import sqlalchemy
from click.testing import CliRunner

from worker import errors, settings
from worker.cli import common, failure, main

PASSWORD = "pa55word-never-shown"
TOKEN = "123456:SECRET-token-ABCdefGHIjklMNOpqrSTUvw"


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    settings.current.cache_clear()
    yield
    settings.current.cache_clear()


def broker_error(url: str) -> BaseException:
    with kombu.Connection(url, connect_timeout=2) as connection:
        try:
            connection.ensure_connection(max_retries=1, interval_start=0)
        except Exception as exc:  # noqa: BLE001 - the exception under test, whatever it is
            return exc
    raise AssertionError("connected to a closed port")


def database_error(url: str) -> BaseException:
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect():
            pass
    except Exception as exc:  # noqa: BLE001
        return exc
    finally:
        engine.dispose()
    raise AssertionError("connected to a closed port")


def test_the_broker_down_names_its_url_and_variable_without_the_password(
    monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:{closed_port}/3"
    monkeypatch.setenv("CELERY_BROKER_URL", url)
    found = failure.translate(broker_error(url))
    assert found == failure.Failure(
        f"cannot reach the broker at redis://127.0.0.1:{closed_port}/3 (CELERY_BROKER_URL): "
        "connection refused",
        common.EXIT_UNAVAILABLE,
    )


def test_sentinels_down_name_the_first_one_without_the_password(
    monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    url = f"sentinel://:{PASSWORD}@127.0.0.1:{closed_port}/0;sentinel://127.0.0.1:{closed_port}"
    monkeypatch.setenv("CELERY_BROKER_URL", url)
    monkeypatch.setenv("REDIS_SENTINEL_MASTER", "mymaster")
    exc = ConnectionRefusedError(111, "Connection refused")
    found = failure.translate(kombu.exceptions.OperationalError(str(exc)))
    where = found.message.split(" (CELERY_BROKER_URL)")[0]
    assert where == f"cannot reach the broker at sentinel://127.0.0.1:{closed_port}/0", found
    assert PASSWORD not in found.message


def test_the_control_plane_down_names_host_port_and_variable_without_the_password(
    monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    url = f"postgresql+psycopg2://backup:{PASSWORD}@127.0.0.1:{closed_port}/control"
    monkeypatch.setenv("DATABASE_URL", url)
    found = failure.translate(database_error(url))
    assert found == failure.Failure(
        f"cannot reach the control plane at 127.0.0.1:{closed_port}/control (DATABASE_URL): "
        "connection refused",
        common.EXIT_UNAVAILABLE,
    )


def test_the_projects_own_errors_keep_their_message_and_status_2() -> None:
    found = failure.translate(errors.NotFoundError("job 1234 does not exist"))
    assert found == failure.Failure("job 1234 does not exist", common.EXIT_ERROR)


def test_the_control_plane_lost_mid_step_is_unavailable() -> None:
    found = failure.translate(errors.ControlPlaneUnavailable("the control plane went away"))
    assert found == failure.Failure("the control plane went away", common.EXIT_UNAVAILABLE)


def crash() -> None:
    raise RuntimeError(f"boom with https://api.telegram.org/bot{TOKEN}/getMe")


def test_an_unexpected_error_is_named_with_its_place_and_how_to_see_the_traceback() -> None:
    with pytest.raises(RuntimeError) as caught:
        crash()
    found = failure.translate(caught.value)
    assert found.exit_code == common.EXIT_BUG
    assert found.message.startswith("unexpected RuntimeError at test_failure.py:")
    assert "boom with" in found.message
    assert "--debug" in found.message
    assert TOKEN not in found.message
    assert TOKEN.split(":")[1] not in failure.traceback_text(caught.value)


def test_ctrl_c_is_one_line_and_status_130() -> None:
    assert failure.translate(KeyboardInterrupt()).exit_code == common.EXIT_INTERRUPTED == 130


@click.group()
@click.option("--debug", is_flag=True)
def cli(debug: bool) -> None:
    """A group like backup-worker's: --debug at the root."""


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@click.option("--usage", is_flag=True)
@common.guard
def probe(as_json: bool, usage: bool) -> None:
    """Fails as a command can."""
    if usage:
        raise click.UsageError("give --this")
    crash()


def test_guard_prints_one_line_on_stderr_and_exits_with_the_status() -> None:
    result = CliRunner().invoke(cli, ["probe"])
    assert result.exit_code == common.EXIT_BUG
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: unexpected RuntimeError at test_failure.py:")


def test_guard_with_json_prints_one_object_on_stdout() -> None:
    result = CliRunner().invoke(cli, ["probe", "--json"])
    assert result.exit_code == common.EXIT_BUG
    payload = json.loads(result.stdout)
    assert sorted(payload) == ["error", "exit_code", "status"]
    assert payload["exit_code"] == common.EXIT_BUG
    assert payload["status"] == "error"


def test_debug_shows_the_traceback_redacted_then_the_line() -> None:
    result = CliRunner().invoke(cli, ["--debug", "probe"])
    assert result.exit_code == common.EXIT_BUG
    assert "Traceback (most recent call last)" in result.stderr
    assert "in crash\n    raise RuntimeError" in result.stderr
    assert TOKEN.split(":")[1] not in result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: unexpected RuntimeError")


def test_clicks_own_usage_errors_pass_through() -> None:
    result = CliRunner().invoke(cli, ["probe", "--usage"])
    assert result.exit_code == 2
    assert "give --this" in result.stderr


def test_a_usage_error_with_json_is_one_object_on_stdout() -> None:
    result = CliRunner().invoke(main.main, ["jobs", "show", "f5", "--json"])
    assert result.exit_code == 2
    assert json.loads(result.stdout) == {
        "error": "Invalid value for 'JOB_ID': 'f5' is not an id, "
        "nor its first 4 or more hex digits",
        "exit_code": 2,
        "status": "error",
    }
    assert result.stderr == ""


def test_a_usage_error_without_json_is_clicks() -> None:
    result = CliRunner().invoke(main.main, ["jobs", "show", "f5"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Try 'main jobs show --help' for help." in result.stderr
