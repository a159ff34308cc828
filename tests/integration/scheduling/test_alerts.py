"""Alerts on real PostgreSQL and the Bot API stand-in: once per project per incident."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text, update

from db import schedule_models, session
from standin.server import BotApiStandin
from tests.integration.scheduling.test_schedules import make_runtime
from worker.jobs import runtime
from worker.scheduling import alerts

TOKEN = "123456:ALERTS-token-ABCdefGHIjklMNOpqrSTUvwxyz"
BACKUP_CHAT = -1001234567890
ALERT_CHAT = -1005555555555


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[BotApiStandin]:
    chats = [BACKUP_CHAT, ALERT_CHAT]
    with BotApiStandin(tokens=[TOKEN], chats=chats, data_dir=tmp_path / "standin") as server:
        yield server


@pytest.fixture
def rt(database: session.Database, standin: BotApiStandin) -> Iterator[runtime.Runtime]:
    built = make_runtime(
        database.url,
        telegram_bot_token=TOKEN,
        telegram_chat_id=str(BACKUP_CHAT),
        telegram_alert_chat_id=str(ALERT_CHAT),
        telegram_api_url=standin.url,
        telegram_max_attempts=1,
    )
    yield built
    built.close()


def finished_job(rt: runtime.Runtime, project: str, status: str, error: str | None = None) -> None:
    with rt.database.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO control_plane.jobs (id, type, project_id, status, error, payload,"
                " finished_at) VALUES (:id, 'backup', :p, :s, :e,"
                " jsonb_build_object('database', 'app'), clock_timestamp())"
            ),
            {"id": uuid.uuid4(), "p": project, "s": status, "e": error},
        )


def backup_row(rt: runtime.Runtime, project: str, age: dt.timedelta) -> None:
    with rt.database.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO control_plane.backups (project_id, database, filename, size_bytes,"
                " sha256, compression, chat_id, part_count, created_at)"
                " VALUES (:p, 'app', 'f', 1, repeat('a', 64), 'zstd', '-1', 1, now() - :age)"
            ),
            {"p": project, "age": age},
        )


def alert_texts(standin: BotApiStandin, chat: int = ALERT_CHAT) -> list[str]:
    return [str(m["text"]) for m in standin.messages() if m["chat_id"] == chat and m["text"]]


def test_a_failed_backup_is_alerted_once_until_a_backup_succeeds(
    rt: runtime.Runtime, standin: BotApiStandin
) -> None:
    finished_job(rt, "proj-1", "failed", "pg_dump: connection refused")
    first = alerts.check(rt)
    assert (first.opened, first.sent) == (["proj-1"], ["proj-1"])
    (message,) = alert_texts(standin)
    assert message.startswith(alerts.PREFIX)
    assert "proj-1 (app) failed: pg_dump: connection refused" in message
    assert alert_texts(standin, BACKUP_CHAT) == []

    finished_job(rt, "proj-1", "failed", "again")  # the same incident goes on
    second = alerts.check(rt)
    assert (second.opened, second.sent) == ([], [])
    assert len(alert_texts(standin)) == 1

    finished_job(rt, "proj-1", "completed")
    assert alerts.check(rt).resolved == ["proj-1"]
    finished_job(rt, "proj-1", "failed", "disk full")  # a new incident
    assert alerts.check(rt).sent == ["proj-1"]
    assert "disk full" in alert_texts(standin)[-1]
    assert len(alert_texts(standin)) == 2


def test_an_overdue_schedule_is_alerted_after_twice_its_period(
    rt: runtime.Runtime, standin: BotApiStandin
) -> None:
    with rt.database.engine.begin() as conn:
        for project in ("proj-late", "proj-fine", "proj-new"):
            conn.execute(
                text(
                    "INSERT INTO control_plane.backup_schedules (project_id, database,"
                    " interval_seconds, period_seconds, next_run_at, enabled_at)"
                    " VALUES (:p, 'app', 3600, 3600, now(), now() - interval '1 day')"
                ),
                {"p": project},
            )
        conn.execute(
            update(schedule_models.BackupSchedule)
            .where(schedule_models.BackupSchedule.project_id == "proj-new")
            .values(enabled_at=dt.datetime.now(dt.UTC))
        )
    backup_row(rt, "proj-late", dt.timedelta(hours=2, minutes=5))
    backup_row(rt, "proj-fine", dt.timedelta(hours=1, minutes=55))
    result = alerts.check(rt)
    assert result.sent == ["proj-late"]
    (message,) = alert_texts(standin)
    assert "no successful backup of proj-late (app)" in message
    assert "every 1h" in message
    assert alerts.check(rt).sent == []
    backup_row(rt, "proj-late", dt.timedelta(minutes=1))
    assert alerts.check(rt).resolved == ["proj-late"]


def test_a_failed_send_is_tried_again_by_the_next_check(
    rt: runtime.Runtime, standin: BotApiStandin
) -> None:
    finished_job(rt, "proj-2", "failed", "boom")
    standin.set_faults(["502"], methods=["sendMessage"])
    assert alerts.check(rt).sent == []
    assert alerts.check(rt).sent == ["proj-2"]
    assert len(alert_texts(standin)) == 1


def test_a_failed_verification_is_alerted_once_until_the_backup_verifies(
    rt: runtime.Runtime, standin: BotApiStandin
) -> None:
    backup_row(rt, "proj-v", dt.timedelta(hours=2))  # the damaged one, older
    backup_row(rt, "proj-v", dt.timedelta(minutes=1))  # a newer backup, verified ok
    with rt.database.engine.begin() as conn:
        damaged = conn.execute(
            text(
                "UPDATE control_plane.backups SET verify_status = CASE WHEN created_at <"
                " now() - interval '1 hour' THEN 'failed' ELSE 'ok' END, verified_at = now()"
                " WHERE project_id = 'proj-v' RETURNING id, verify_status"
            )
        ).all()
        (bad,) = [row_id for row_id, verdict in damaged if verdict == "failed"]
        conn.execute(
            text(
                "INSERT INTO control_plane.jobs (id, type, project_id, status, error, payload,"
                " finished_at) VALUES (:id, 'verify', 'proj-v', 'failed', :e,"
                " jsonb_build_object('backup_id', CAST(:b AS text)), now())"
            ),
            {"id": uuid.uuid4(), "e": "part 2 of 3: wrong file identifier", "b": bad},
        )
    first = alerts.check(rt)
    assert (first.opened, first.sent) == (["proj-v"], ["proj-v"])
    (message,) = alert_texts(standin)
    assert f"backup {bad} of proj-v (app) failed verification" in message
    assert "part 2 of 3: wrong file identifier" in message
    assert alerts.check(rt).sent == []  # one alert per incident
    with rt.database.engine.begin() as conn:
        conn.execute(
            text("UPDATE control_plane.backups SET status = 'deleted' WHERE id = :b"), {"b": bad}
        )
    assert alerts.check(rt).resolved == ["proj-v"]
    assert len(alert_texts(standin)) == 1
