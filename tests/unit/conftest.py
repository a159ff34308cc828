"""Fixtures for unit tests: the Bot API stand-in in-process, and a Telegram client pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from standin.server import BotApiStandin
from tests.support import standin as support_standin
from worker.telegram.client import TelegramClient

TOKEN = "123456:TEST-token-ABCdefGHIjklMNOpqrSTUvwxYZ012345"
CHAT = -1001234567890
FORUM_CHAT = -1009876543210
TOPIC = 7
OLD_GROUP = -4001234567  # upgraded to NEW_SUPERGROUP
NEW_SUPERGROUP = -1005551234567


@dataclass
class SleepRecorder:
    """An injected `sleep` that records the requested waits instead of waiting."""

    calls: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[BotApiStandin]:
    """The stand-in on a free port: one bot, a supergroup, a forum topic, a migrated group."""
    with BotApiStandin(
        tokens=[TOKEN],
        chats=[CHAT, FORUM_CHAT],
        data_dir=tmp_path / "standin",
        topics={FORUM_CHAT: [TOPIC]},
        migrated={OLD_GROUP: NEW_SUPERGROUP},
    ) as server:
        yield server


@pytest.fixture
def sleeps() -> SleepRecorder:
    """Records the client's retry waits."""
    return SleepRecorder()


@pytest.fixture
def client(standin: BotApiStandin, sleeps: SleepRecorder) -> Iterator[TelegramClient]:
    """A client of the stand-in that records its waits instead of sleeping."""
    with TelegramClient(
        TOKEN, standin.url, sleep=sleeps, max_attempts=4, timeout=10.0, connect_timeout=2.0
    ) as telegram:
        yield telegram


@pytest.fixture
def standin_process(tmp_path: Path) -> Iterator[support_standin.StandinProcess]:
    """The stand-in started through its command line, on a free port."""
    with support_standin.process(tmp_path / "cli-standin", TOKEN, str(CHAT)) as running:
        yield running
