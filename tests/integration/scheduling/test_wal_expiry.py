"""WAL expiry in the sweep: what the kept base backups need stays, the rest leaves Telegram."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from db import wal_models
from db.columns import JSONObject
from tests.integration.scheduling.test_sweep import CHAT, TOKEN, Chat, chat, rt
from worker import settings
from worker.cli import main
from worker.jobs import runtime
from worker.scheduling import sweep

__all__ = ["chat", "rt"]
MB = 1 << 20
T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def parts(chat: Chat, count: int = 1) -> list[JSONObject]:
    """`count` real messages in the stand-in, as a WAL record keeps them."""
    found: list[JSONObject] = []
    for index in range(count):
        path = chat.tmp / f"wal-{uuid.uuid4().hex}"
        path.write_bytes(b"wal bytes")
        sent = chat.client.send_document(CHAT, path, filename=path.name)
        found.append(
            {
                "index": index,
                "file_id": sent.file_id,
                "message_id": sent.message_id,
                "chat_id": str(CHAT),
                "size_bytes": 9,
                "sha256": "0" * 64,
                "bot_id": None,
            }
        )
    return found


def base(chat: Chat, start: int, day: int) -> wal_models.BaseBackup:
    return wal_models.BaseBackup(
        server="pg-x",
        system_identifier="7",
        timeline=1,
        start_lsn=start,
        stop_lsn=start + 100,
        started_at=T0 + dt.timedelta(days=day),
        stopped_at=T0 + dt.timedelta(days=day, minutes=1),
        size_bytes=9,
        sha256="0" * 64,
        compression="zstd",
        parts=parts(chat, 2),
    )


def bundle(chat: Chat, start: int, system: str = "7") -> wal_models.WalBundle:
    return wal_models.WalBundle(
        server="pg-x",
        system_identifier=system,
        timeline=1,
        start_lsn=start,
        end_lsn=start + 16 * MB,
        covered_until=T0,
        size_bytes=9,
        sha256="0" * 64,
        compression="zstd",
        parts=parts(chat),
    )


def mark(position: int, system: str = "7") -> wal_models.WalMark:
    return wal_models.WalMark(
        server="pg-x",
        system_identifier=system,
        database="app",
        position=position,
        taken_at=T0,
        tables={"public.t": 1},
    )


def test_bundles_before_the_oldest_kept_base_backup_expire_with_the_older_ones(
    chat: Chat, rt: runtime.Runtime
) -> None:
    # Three base backups at 32, 64 and 96 MB; the default keeps two: the one at 64 MB is the
    # oldest kept, so WAL ending at or before 64 MB goes, the bundle across it stays.
    with rt.database.transaction() as s:
        bases = [base(chat, n * 16 * MB, day) for day, n in enumerate((2, 4, 6))]
        bundles = [bundle(chat, n * 16 * MB) for n in range(1, 8)]
        bundles.append(bundle(chat, 16 * MB + 100))  # straddles 64 MB: 17..33 MB, ends before
        straddling = bundle(chat, 64 * MB - 100)  # ends after 64 MB: needed
        other_system = bundle(chat, 8 * MB, system="8")  # a re-created server's: left alone
        # Drill marks: before the oldest kept base backup's end no recovery reaches; after it,
        # and those of another system, stay.
        marks = [mark(40 * MB), mark(64 * MB + 50), mark(70 * MB), mark(MB, system="8")]
        s.add_all([*bases, *bundles, straddling, other_system, *marks])
    gone = [*bases[0].parts, *(p for b in (*bundles[:3], bundles[-1]) for p in b.parts)]
    gone_messages = {int(str(part["message_id"])) for part in gone}

    result = sweep.sweep(rt)

    assert (result.wal_base_backups_deleted, result.wal_bundles_deleted) == (1, 4)
    with rt.database.transaction() as s:
        left_bases = s.scalars(select(wal_models.BaseBackup.start_lsn)).all()
        left = s.execute(
            select(wal_models.WalBundle.system_identifier, wal_models.WalBundle.start_lsn)
        ).all()
    assert sorted(left_bases) == [64 * MB, 96 * MB]
    assert sorted(left) == sorted(
        [("7", n * 16 * MB) for n in range(4, 8)] + [("7", 64 * MB - 100), ("8", 8 * MB)]
    )
    assert chat.deleted_messages() == gone_messages
    with rt.database.transaction() as s:
        kept = s.execute(
            select(wal_models.WalMark.system_identifier, wal_models.WalMark.position)
        ).all()
    assert sorted(kept) == [("7", 70 * MB), ("8", MB)]
    assert sweep.sweep(rt).wal_bundles_deleted == 0


def test_sweep_dry_run_lists_the_wal_the_sweep_then_expires(
    chat: Chat, rt: runtime.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    with rt.database.transaction() as s:
        bases = [base(chat, n * 16 * MB, day) for day, n in enumerate((2, 4, 6))]
        bundles = [bundle(chat, n * 16 * MB) for n in range(1, 6)]
        s.add_all([*bases, *bundles])
        s.flush()
        old_base = str(bases[0].id)
        old_bundles = {str(b.id) for b in bundles[:3]}  # end at or before 64 MB
    for name, value in {
        "DATABASE_URL": rt.database.url,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_CHAT_ID": str(CHAT),
        "TELEGRAM_API_URL": chat.standin.url,
    }.items():
        monkeypatch.setenv(name, value)
    settings.current.cache_clear()
    try:
        planned = CliRunner().invoke(main.main, ["sweep", "--dry-run", "--json"])
        said = CliRunner().invoke(main.main, ["sweep", "--dry-run"])
    finally:
        settings.current.cache_clear()

    assert planned.exit_code == 0, planned.output
    found = json.loads(planned.stdout)
    assert [b["id"] for b in found["wal_base_backups"]] == [old_base]
    assert {b["id"] for b in found["wal_bundles"]} == old_bundles
    assert found["wal_bundles"][0]["start_lsn"] == "0/1000000"
    assert "1 base backup(s) beyond WAL_BASEBACKUP_KEEP, 3 bundle(s)" in said.stdout
    assert f"base backup {old_base[:8]} of pg-x, timeline 1 0/2000000..0/2000064" in said.stdout
    assert chat.deleted_messages() == set()  # nothing changed

    result = sweep.sweep(rt)
    assert (result.wal_base_backups_deleted, result.wal_bundles_deleted) == (1, 3)
