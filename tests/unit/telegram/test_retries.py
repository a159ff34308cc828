"""Retries, chat migration and token redaction of the Telegram client, against the stand-in."""

from __future__ import annotations

import logging
import socket
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from standin.server import BotApiStandin
from tests.unit.conftest import CHAT, NEW_SUPERGROUP, OLD_GROUP, TOKEN, SleepRecorder
from worker import errors
from worker.telegram import answers, transport
from worker.telegram.client import TelegramClient


@pytest.fixture
def part(tmp_path: Path) -> Path:
    path = tmp_path / "part.000"
    path.write_bytes(b"backup bytes " * 1000)
    return path


def _statuses(standin: BotApiStandin, method: str) -> list[object]:
    return [entry["status"] for entry in standin.requests(method)]


def test_flood_control_waits_at_least_retry_after(
    client: TelegramClient, standin: BotApiStandin, sleeps: SleepRecorder, part: Path
) -> None:
    standin.set_faults(["429:1"], methods=["sendDocument"])
    sent = client.send_document(CHAT, part)
    assert sent.message_id == 1
    assert _statuses(standin, "sendDocument") == [429, 200]
    assert len(sleeps.calls) == 1
    assert sleeps.calls[0] >= 1.0


def test_flood_control_really_waits(standin: BotApiStandin, part: Path) -> None:
    standin.set_faults(["429:1"], methods=["sendDocument"])
    with TelegramClient(TOKEN, standin.url, max_attempts=3) as client:
        started = time.monotonic()
        client.send_document(CHAT, part)
        elapsed = time.monotonic() - started
    first, second = standin.requests("sendDocument")
    assert elapsed >= 1.0
    assert float(str(second["time"])) - float(str(first["time"])) >= 1.0


def test_flood_control_without_retry_after_uses_the_default_wait(
    client: TelegramClient, standin: BotApiStandin, sleeps: SleepRecorder
) -> None:
    standin.set_faults(["429"], methods=["sendMessage"])
    client.send_message(CHAT, "hello")
    assert sleeps.calls == [answers.DEFAULT_RETRY_AFTER + transport.RETRY_AFTER_MARGIN]


def test_server_errors_and_dropped_connections_are_retried_to_success(
    client: TelegramClient,
    standin: BotApiStandin,
    sleeps: SleepRecorder,
    part: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="worker.telegram.client")
    standin.set_faults(["502", "drop", "500"], methods=["sendDocument"])
    sent = client.send_document(CHAT, part)
    assert sent.message_id == 1
    assert _statuses(standin, "sendDocument") == [502, None, 500, 200]
    assert len(sleeps.calls) == 3
    assert all(0 < wait <= 30.0 for wait in sleeps.calls)
    retries = [r.getMessage() for r in caplog.records if r.name == "worker.telegram.client"]
    assert len(retries) == 3
    assert retries[0].startswith("sendDocument: attempt 1 of 4 failed, retrying in ")
    assert "502" in retries[0]
    assert "connection" in retries[1]


def test_a_slow_answer_times_out_and_is_retried(standin: BotApiStandin) -> None:
    standin.set_faults(["delay:1"], methods=["getMe"])
    recorder = SleepRecorder()
    with TelegramClient(TOKEN, standin.url, timeout=0.3, sleep=recorder) as client:
        assert client.get_me().id == 123456
    assert len(recorder.calls) == 1


def test_attempts_are_bounded(
    client: TelegramClient, standin: BotApiStandin, sleeps: SleepRecorder, part: Path
) -> None:
    standin.set_faults(["502"] * 10, methods=["sendDocument"])
    with pytest.raises(errors.TelegramServerError) as caught:
        client.send_document(CHAT, part)
    assert "502" in str(caught.value)
    assert "not the Bot API's JSON" in str(caught.value)
    assert len(standin.requests("sendDocument")) == 4
    assert len(sleeps.calls) == 3


def test_backoff_is_capped(standin: BotApiStandin) -> None:
    standin.set_faults(["503"] * 7, methods=["getMe"])
    recorder = SleepRecorder()
    with TelegramClient(
        TOKEN, standin.url, sleep=recorder, max_attempts=8, max_backoff=2.0
    ) as client:
        client.get_me()
    assert len(recorder.calls) == 7
    assert all(0 < wait <= 2.0 for wait in recorder.calls)
    assert recorder.calls[-1] == 2.0


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("400", errors.TelegramBadRequest),
        ("401", errors.TelegramUnauthorized),
        ("403", errors.TelegramForbidden),
        ("404", errors.TelegramNotFound),
        ("413", errors.TelegramEntityTooLarge),
        ("200-html", errors.TelegramServerError),
        ("200-false", errors.TelegramServerError),
    ],
)
def test_each_answer_maps_to_its_error(
    standin: BotApiStandin, part: Path, fault: str, error: type[errors.TelegramError]
) -> None:
    standin.set_faults([fault] * 5, methods=["sendDocument"])
    recorder = SleepRecorder()
    with (
        TelegramClient(TOKEN, standin.url, sleep=recorder, max_attempts=3) as client,
        pytest.raises(error) as caught,
    ):
        client.send_document(CHAT, part)
    retried = issubclass(error, errors.TelegramRetryable)
    assert len(standin.requests("sendDocument")) == (3 if retried else 1)
    assert len(recorder.calls) == (2 if retried else 0)
    assert caught.value.method == "sendDocument"
    assert str(caught.value).startswith("sendDocument: ")


def test_forbidden_tells_the_operator_what_to_do(
    client: TelegramClient, standin: BotApiStandin
) -> None:
    standin.set_faults(["403"])
    with pytest.raises(errors.TelegramForbidden) as caught:
        client.send_message(CHAT, "hi")
    assert str(caught.value) == (
        f"sendMessage: the bot may not post in chat {CHAT} (403 Forbidden: bot was kicked from "
        "the supergroup chat): add the bot to the chat and allow it to post"
    )


def test_a_migrated_group_is_followed_once_and_reported(
    client: TelegramClient, standin: BotApiStandin, part: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="worker.telegram.client")
    sent = client.send_document(OLD_GROUP, part)
    assert (sent.chat_id, sent.migrated_to_chat_id) == (NEW_SUPERGROUP, NEW_SUPERGROUP)
    assert [e["chat_id"] for e in standin.requests("sendDocument")] == [OLD_GROUP, NEW_SUPERGROUP]
    assert f"Set TELEGRAM_CHAT_ID={NEW_SUPERGROUP}" in caplog.text
    assert client.send_message(OLD_GROUP, "done") == 2


def test_a_second_migration_is_not_followed(tmp_path: Path, part: Path) -> None:
    with (
        BotApiStandin(tokens=[TOKEN], chats=[], migrated={-1: -2, -2: -1003}) as standin,
        TelegramClient(TOKEN, standin.url) as client,
        pytest.raises(errors.TelegramMigrateToChat) as caught,
    ):
        client.send_document(-1, part)
    assert caught.value.new_chat_id == -1003
    assert "set TELEGRAM_CHAT_ID=-1003" in str(caught.value)
    assert len(standin.requests()) == 2


def test_group_rate_limit_is_waited_out(tmp_path: Path) -> None:
    now = [1_700_000_000.0]
    with BotApiStandin(
        tokens=[TOKEN], chats=[CHAT], rate_limits=True, clock=lambda: now[0]
    ) as standin:
        waits: list[float] = []

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            now[0] += seconds

        with TelegramClient(TOKEN, standin.url, sleep=sleep) as client:
            ids = [client.send_message(CHAT, f"part {n}") for n in range(25)]
    assert ids == list(range(1, 26))
    assert waits == [60 + transport.RETRY_AFTER_MARGIN]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = error
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def test_network_errors_never_carry_the_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    recorder = SleepRecorder()
    url = f"http://127.0.0.1:{_free_port()}"
    with (
        TelegramClient(TOKEN, url, sleep=recorder, max_attempts=2) as client,
        pytest.raises(errors.TelegramNetworkError) as caught,
    ):
        client.get_me()
    error = caught.value
    assert "getMe: the connection to the Bot API failed" in str(error)
    assert "bot<redacted>" in str(error)
    texts = [str(e) for e in _chain(error)] + [repr(e) for e in _chain(error)]
    texts.append("".join(traceback.format_exception(error)))
    texts += [record.getMessage() for record in caplog.records]
    texts += [logging.Formatter().format(record) for record in caplog.records]
    assert len(caplog.records) > 1
    for text in texts:
        assert TOKEN not in text
        assert TOKEN.split(":")[1] not in text


def test_debug_logs_of_a_round_trip_never_carry_the_token(
    client: TelegramClient, part: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sent = client.send_document(CHAT, part)
    with (part.parent / "copy").open("wb") as sink:
        client.download_file(sent.file_id, sink)
    urllib3_lines = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    assert any("/bot<redacted>/sendDocument" in line for line in urllib3_lines)
    assert any("/file/bot<redacted>/documents/" in line for line in urllib3_lines)
    assert TOKEN not in caplog.text
    assert "TEST-token" not in repr(client)
