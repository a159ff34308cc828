"""Real worker processes on real Redis and PostgreSQL, talking to the Bot API stand-in.

The harness is tests/support; here are the fixtures: a source database for the session, and a
stack per test on the session's control database and Redis database.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TypeAlias

import pytest
import redis
from sqlalchemy import text

from standin.server import BotApiStandin
from tests.support import scratch, sources
from tests.support import stack as support_stack

TOKEN = "123456:ACCEPTANCE-token-ABCdefGHIjklMNOpqrSTUvw"
CHAT = "-1009876543210"
# Every worker of these tests. The stand-in's uploads are local: their times differ by
# milliseconds; the margin covers that spread (docs/fleet.md, "Arrival").
# The restores of these tests go into new databases named bw_<label>_<hex> (restore/support.py's
# new_target) besides the default `{database}_*`; tests/acceptance/security sets the default.
SETTINGS = {
    "TELEGRAM_MAX_ATTEMPTS": "6",
    "TELEGRAM_PACER_MARGIN": "0.2",
    "RESTORE_TARGET_NAMES": "{database}_*,bw_*",
}

Stack: TypeAlias = support_stack.Stack[BotApiStandin]  # the `stack` fixture's type


@pytest.fixture(scope="session")
def source_db() -> Iterator[str]:
    name = f"bw_src_{uuid.uuid4().hex[:8]}"
    sources.make_source_database(name)
    yield name
    sources.drop_database(name)


@contextlib.contextmanager
def stack_on(control_url: str, source_db: str, redis_db: int, tmp_path: Path) -> Iterator[Stack]:
    """A stack with its own stand-in, on `control_url` and the Redis database `redis_db`."""
    redis.Redis(host=scratch.REDIS_HOST, port=scratch.REDIS_PORT, db=redis_db).flushdb()
    with BotApiStandin(tokens=[TOKEN], chats=[int(CHAT)], data_dir=tmp_path / "standin") as server:
        built = Stack(
            standin=server,
            control_url=control_url,
            broker_url=scratch.redis_url(redis_db),
            source_db=source_db,
            token=TOKEN,
            chat=CHAT,
            tmp=tmp_path,
            settings=dict(SETTINGS),
        )
        try:
            yield built
        finally:
            built.close()


@pytest.fixture
def stack(control_db_url: str, source_db: str, redis_db: int, tmp_path: Path) -> Iterator[Stack]:
    with stack_on(control_db_url, source_db, redis_db, tmp_path) as built:
        yield built
    # Its processes stopped: empty the tables the next test on this database would see.
    with built.database.engine.begin() as conn:
        conn.execute(
            text(
                "TRUNCATE control_plane.backup_parts, control_plane.backups,"
                " control_plane.sent_messages, control_plane.jobs,"
                " control_plane.catalog_messages CASCADE"
            )
        )
    built.database.dispose()
