"""The Telegram client and the pacer report what they did through the counters passed in."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from standin.server import BotApiStandin
from tests.unit.conftest import CHAT, TOKEN, SleepRecorder
from worker import errors
from worker.telegram import counters
from worker.telegram.client import TelegramClient


class Recorded:
    """A Counters that keeps every call, to compare with what the stand-in saw."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.bytes: dict[str, int] = {}
        self.waits: list[float] = []

    def request(self, method: str, outcome: str) -> None:
        self.requests.append((method, outcome))

    def transferred(self, direction: str, size: int) -> None:
        self.bytes[direction] = self.bytes.get(direction, 0) + size

    def paced(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def recorded() -> Recorded:
    return Recorded()


@pytest.fixture
def counted(standin: BotApiStandin, sleeps: SleepRecorder, recorded: Recorded) -> TelegramClient:
    return TelegramClient(TOKEN, standin.url, sleep=sleeps, max_attempts=4, counters=recorded)


def test_every_attempt_is_counted_by_method_and_outcome(
    counted: TelegramClient, standin: BotApiStandin, recorded: Recorded, tmp_path: Path
) -> None:
    part = tmp_path / "part.000"
    part.write_bytes(b"x" * 5000)
    standin.set_faults(["429:1", "502"], methods=["sendDocument"])
    sent = counted.send_document(CHAT, part)
    assert recorded.requests == [
        ("sendDocument", counters.RETRY_AFTER),
        ("sendDocument", counters.SERVER_ERROR),
        ("sendDocument", counters.OK),
    ]
    assert [entry["status"] for entry in standin.requests("sendDocument")] == [429, 502, 200]
    assert recorded.bytes == {counters.SENT: 5000}
    sink = io.BytesIO()
    counted.download_file(sent.file_id, sink)
    assert recorded.requests[-2:] == [("getFile", counters.OK), ("download", counters.OK)]
    assert recorded.bytes == {counters.SENT: 5000, counters.FETCHED: 5000}


def test_a_rejection_is_counted_once_and_moves_no_bytes(
    counted: TelegramClient, standin: BotApiStandin, recorded: Recorded, tmp_path: Path
) -> None:
    part = tmp_path / "part.000"
    part.write_bytes(b"x" * 100)
    standin.set_faults(["403"], methods=["sendDocument"])
    with pytest.raises(errors.TelegramForbidden):
        counted.send_document(CHAT, part)
    assert recorded.requests == [("sendDocument", counters.REJECTED)]
    assert recorded.bytes == {}


def test_the_outcome_of_each_error_type() -> None:
    assert counters.outcome(None) == counters.OK
    assert counters.outcome(errors.TelegramRetryAfter("x", retry_after=3)) == "retry_after"
    assert counters.outcome(errors.TelegramNetworkError("x")) == "network_error"
    assert counters.outcome(errors.TelegramUnauthorized("x")) == "rejected"
    assert counters.outcome(errors.SpoolError("x")) == "other"
    assert set(counters.OUTCOMES) == {
        "ok",
        "retry_after",
        "server_error",
        "network_error",
        "rejected",
        "other",
    }


def test_a_client_without_counters_counts_nothing_and_works(
    standin: BotApiStandin, sleeps: SleepRecorder
) -> None:
    with TelegramClient(TOKEN, standin.url, sleep=sleeps) as client:
        assert client.get_me().id == 123456
