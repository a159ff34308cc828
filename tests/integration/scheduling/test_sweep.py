"""The expiry sweep on real PostgreSQL against the Bot API stand-in."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update

from db import models, session
from db.queries import backups as db_backups
from db.queries import expiry as db_expiry
from standin.server import BotApiStandin
from tests.integration.scheduling.test_schedules import make_runtime
from worker.jobs import runtime
from worker.scheduling import sweep
from worker.telegram.client import TelegramClient

TOKEN = "123456:EXPIRY-token-ABCdefGHIjklMNOpqrSTUvwxyz"
CHAT = -1001234567890
DAY = dt.timedelta(days=1)
OLD = 49 * 3600  # seconds: past Telegram's 48-hour delete window


class Chat:
    """The stand-in, a client on it, and backups recorded from real sent messages."""

    def __init__(self, standin: BotApiStandin, db: session.Database, tmp: Path) -> None:
        self.standin = standin
        self.db = db
        self.tmp = tmp
        self.client = TelegramClient(TOKEN, standin.url, max_attempts=1)

    def backup(
        self,
        project: str = "proj-1",
        *,
        parts: int = 2,
        age: dt.timedelta = dt.timedelta(0),
        expired: bool = False,
        job_id: uuid.UUID | None = None,
        database: str = "app",
    ) -> uuid.UUID:
        """Send `parts` documents and record them as one backup `age` old."""
        new_parts = []
        for index in range(parts):
            data = f"{project}-{uuid.uuid4()}-{index}".encode()
            path = self.tmp / f"part-{uuid.uuid4().hex}"
            path.write_bytes(data)
            sent = self.client.send_document(CHAT, path, filename=path.name)
            new_parts.append(
                db_backups.NewPart(
                    index=index,
                    file_id=sent.file_id,
                    file_unique_id=sent.file_unique_id,
                    message_id=sent.message_id,
                    chat_id=str(CHAT),
                    size_bytes=len(data),
                    sha256=hashlib.sha256(data).hexdigest(),
                )
            )
        now = dt.datetime.now(dt.UTC)
        created = now - age
        new = db_backups.NewBackup(
            project_id=project,
            job_id=job_id,
            type="database",
            database=database,
            filename=f"{project}-{uuid.uuid4().hex}.dump.zst",
            size_bytes=sum(p.size_bytes for p in new_parts),
            sha256=hashlib.sha256(b"artifact" + str(uuid.uuid4()).encode()).hexdigest(),
            compression="zstd",
            encrypted=False,
            encryption_recipients=[],
            chat_id=str(CHAT),
            message_thread_id=None,
            caption=None,
            expires_at=now - dt.timedelta(minutes=1) if expired else now + 30 * DAY,
            parts=new_parts,
        )
        with self.db.transaction() as s:
            row, _ = db_backups.record_backup(s, new)
            s.execute(
                update(models.Backup).where(models.Backup.id == row.id).values(created_at=created)
            )
        return row.id

    def age(self, backup_id: uuid.UUID, seconds: int = OLD) -> None:
        """Make every message of the backup `seconds` older in the stand-in."""
        for part in self.parts(backup_id):
            self.standin.age_message(CHAT, part.message_id, seconds)

    def parts(self, backup_id: uuid.UUID) -> list[models.BackupPart]:
        with self.db.transaction() as s:
            return list(
                s.scalars(
                    select(models.BackupPart)
                    .where(models.BackupPart.backup_id == backup_id)
                    .order_by(models.BackupPart.index)
                )
            )

    def status(self, backup_id: uuid.UUID) -> str:
        with self.db.transaction() as s:
            return s.get_one(models.Backup, backup_id, populate_existing=True).status

    def deleted_messages(self) -> set[int]:
        return {int(str(m["message_id"])) for m in self.standin.messages() if m["deleted"]}


@pytest.fixture
def chat(database: session.Database, tmp_path: Path) -> Iterator[Chat]:
    with BotApiStandin(tokens=[TOKEN], chats=[CHAT], data_dir=tmp_path / "standin") as standin:
        built = Chat(standin, database, tmp_path)
        yield built
        built.client.close()


@pytest.fixture
def rt(chat: Chat) -> Iterator[runtime.Runtime]:
    built = make_runtime(
        chat.db.url,
        telegram_bot_token=TOKEN,
        telegram_chat_id=str(CHAT),
        telegram_api_url=chat.standin.url,
        telegram_max_attempts=1,
    )
    yield built
    built.close()


def test_expired_backups_are_swept_young_parts_deleted_old_ones_recorded(
    chat: Chat, rt: runtime.Runtime
) -> None:
    young = chat.backup(age=2 * DAY, expired=True)
    old = chat.backup(age=3 * DAY, expired=True)
    chat.age(old)
    current = chat.backup(age=DAY)
    newest_but_expired = chat.backup("proj-2", expired=True)

    result = sweep.sweep(rt)

    assert result.expired == 2
    assert chat.status(young) == "deleted"
    assert chat.status(old) == "expired"
    assert chat.status(current) == "active"
    assert chat.status(newest_but_expired) == "active"  # the last one proj-2 has
    deleted = chat.deleted_messages()
    assert {p.message_id for p in chat.parts(young)} == deleted
    assert [(p.delete_status, p.delete_attempts) for p in chat.parts(young)] == [
        ("deleted", 1),
        ("deleted", 1),
    ]
    for part in chat.parts(old):
        assert part.delete_status == "undeletable"
        assert part.delete_error is not None
        assert "48 hours" in part.delete_error
    assert (result.parts_deleted, result.parts_undeletable, result.backups_deleted) == (2, 2, 1)

    # A second sweep tries nothing again: the refused parts are settled for good.
    calls = len(chat.standin.requests("deleteMessage"))
    again = sweep.sweep(rt)
    assert (again.expired, again.parts_deleted, again.parts_undeletable) == (0, 0, 0)
    assert len(chat.standin.requests("deleteMessage")) == calls


def test_a_message_deleted_by_hand_counts_as_gone(chat: Chat, rt: runtime.Runtime) -> None:
    chat.backup(age=DAY)
    gone = chat.backup(age=2 * DAY, expired=True, parts=1)
    chat.client.delete_message(CHAT, chat.parts(gone)[0].message_id)
    result = sweep.sweep(rt)
    assert result.parts_missing == 1
    assert chat.status(gone) == "deleted"
    assert chat.parts(gone)[0].delete_status == "missing"


def test_server_errors_are_retried_by_later_sweeps_then_given_up(
    chat: Chat, rt: runtime.Runtime
) -> None:
    chat.backup(age=DAY)
    flaky = chat.backup(age=2 * DAY, expired=True, parts=1)
    chat.standin.set_faults(["502"] * 10, methods=["deleteMessage"])
    for attempt in range(1, sweep.MAX_DELETE_ATTEMPTS + 1):
        result = sweep.sweep(rt)
        (part,) = chat.parts(flaky)
        assert part.delete_attempts == attempt
        if attempt < sweep.MAX_DELETE_ATTEMPTS:
            assert (part.delete_status, result.parts_retry) == (None, 1)
            # The lease keeps a part out of the next sweep for a while; end it early.
            with chat.db.transaction() as s:
                s.execute(
                    update(models.BackupPart)
                    .where(models.BackupPart.backup_id == flaky)
                    .values(delete_attempted_at=func.now() - 2 * db_expiry.DELETE_LEASE)
                )
    assert part.delete_status == "undeletable"
    assert part.delete_error is not None
    assert part.delete_error.startswith("gave up")
    assert chat.status(flaky) == "expired"


def test_gfs_retention_keeps_what_its_rules_say_and_always_the_newest(
    chat: Chat, rt: runtime.Runtime
) -> None:
    schedule_id = uuid.uuid4()
    with chat.db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO control_plane.backup_schedules (id, project_id, database,"
                " interval_seconds, period_seconds, next_run_at, keep_last, keep_daily)"
                " VALUES (:id, 'proj-g', 'app', 43200, 43200, now() + interval '1 hour', 1, 3)"
            ),
            {"id": schedule_id},
        )
    made: dict[float, uuid.UUID] = {}
    for half_days in range(12):  # two a day for six days, 12 h apart
        age = dt.timedelta(hours=12 * half_days + 1)
        job_id = uuid.uuid4()
        with chat.db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO control_plane.jobs (id, type, project_id, status)"
                    " VALUES (:id, 'backup', 'proj-g', 'completed')"
                ),
                {"id": job_id},
            )
            conn.execute(
                text(
                    "INSERT INTO control_plane.schedule_runs (schedule_id, scheduled_for, job_id)"
                    " VALUES (:s, now() - :age, :j)"
                ),
                {"s": schedule_id, "age": age, "j": job_id},
            )
        made[age.total_seconds()] = chat.backup(
            "proj-g", parts=1, age=age, job_id=job_id, database="app"
        )
    manual = chat.backup("proj-g", parts=1, age=10 * DAY)  # not the schedule's: GFS ignores it

    result = sweep.sweep(rt)

    with chat.db.transaction() as s:
        active = set(
            s.scalars(
                select(models.Backup.id).where(
                    models.Backup.project_id == "proj-g", models.Backup.status == "active"
                )
            )
        )
    newest = made[min(made)]
    assert newest in active
    assert manual in active
    # last 1 + newest of each of the 3 most recent days: 3 or 4 backups depending on the hour.
    scheduled_active = active - {manual}
    assert 3 <= len(scheduled_active) <= 4
    assert result.retention_expired == 12 - len(scheduled_active)
    assert len(chat.deleted_messages()) == result.retention_expired


def test_every_rule_at_once_still_leaves_each_project_its_newest(
    chat: Chat, rt: runtime.Runtime
) -> None:
    backups = [chat.backup("proj-n", parts=1, age=n * DAY, expired=True) for n in range(3)]
    other_db = chat.backup("proj-n", parts=1, age=5 * DAY, expired=True, database="other")
    sweep.sweep(rt)
    assert [chat.status(b) for b in backups] == ["active", "deleted", "deleted"]
    assert chat.status(other_db) == "active"
