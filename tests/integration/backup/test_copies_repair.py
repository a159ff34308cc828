"""`copies repair` and the catalog with copies (issue 25): re-created copies, their ledger
lines, and a control plane rebuilt from the one repository left. Fixtures: test_copies."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import delete, select

from db import ledger, migrate, models, session
from db.queries import backups as db_backups
from db.queries import copies as db_copies
from standin.server import BotApiStandin
from tests.integration.backup.test_copies import (
    CHAT_A,
    CHAT_B,
    HOST,
    TOKEN_A,
    rt,
    standin,
    uploading_job,
)
from worker import errors
from worker.backup import recording, repair
from worker.backup import steps as backup
from worker.catalog import publish as catalog_publish
from worker.catalog import recover as catalog_recover
from worker.catalog import sign
from worker.jobs.runtime import Runtime
from worker.restore import fetch
from worker.scheduling import orphans

__all__ = ["rt", "standin"]  # fixtures, used by name


def test_repair_recreates_the_missing_copies_once_and_they_restore(
    rt: Runtime, standin: BotApiStandin, tmp_path: Path
) -> None:
    # Backups made with one copy, before the second repository was used.
    single = Runtime(
        settings=rt.settings.model_copy(update={"backup_copies": 1}), database=rt.database
    )
    job_id = uploading_job(single, tmp_path)
    backup.upload_step(single, job_id, hostname=HOST)
    recording.record_step(single, job_id, hostname=HOST)
    single.close_telegram()
    with rt.database.transaction() as s:
        row = db_backups.get_backup_by_job(s, job_id)
        assert row is not None
        assert db_backups.copies_of(s, row.id) == []

    seen: list[tuple[int, int]] = []
    done = repair.repair(
        rt, "default", "spare", on_part=lambda n, total, _: seen.append((n, total))
    )
    assert (done.created, done.failed) == (3, [])
    assert seen == [(1, 3), (2, 3), (3, 3)]
    # Run again: nothing is missing, nothing is sent twice into the repository.
    sends = len(standin.messages())
    assert repair.repair(rt, "default", "spare").created == 0
    assert len(standin.messages()) == sends

    whole = b"".join((tmp_path / f"a.pgdump.{i + 1:03d}").read_bytes() for i in range(3))
    standin.revoke(TOKEN_A)
    with rt.database.transaction() as s:
        row = db_backups.get_backup_by_job(s, job_id)
        assert row is not None
        remote = fetch.RemoteArtifact.from_backup(row, db_backups.copies_of(s, row.id))
    used: dict[int, str] = {}
    fetch.fetch(rt.telegram, remote, tmp_path / "restored", used=used)
    assert (tmp_path / "restored").read_bytes() == whole
    assert set(used.values()) == {"spare"}


def test_a_repaired_copy_is_in_the_ledger_so_the_sweep_finds_it_once_nothing_holds_it(
    rt: Runtime, standin: BotApiStandin, tmp_path: Path
) -> None:
    single = Runtime(
        settings=rt.settings.model_copy(update={"backup_copies": 1}), database=rt.database
    )
    job_id = uploading_job(single, tmp_path)
    backup.upload_step(single, job_id, hostname=HOST)
    recording.record_step(single, job_id, hostname=HOST)
    single.close_telegram()
    assert repair.repair(rt, "default", "spare").created == 3
    with rt.database.transaction() as s:
        noted = s.execute(
            select(ledger.SentMessage.chat_id, ledger.SentMessage.job_id).where(
                ledger.SentMessage.chat_id == str(CHAT_B)
            )
        ).all()
        assert sorted(noted) == [(str(CHAT_B), job_id)] * 3
        # The backup's row goes (by hand, say): its copies' messages are held by nothing now.
        s.execute(delete(models.Backup).where(models.Backup.job_id == job_id))

    swept = orphans.sweep(rt, rt.telegram, grace=timedelta(0))
    assert (swept.deleted, swept.kept) == (6, 0)  # copy 0's three parts and the three repaired
    left = [m for m in standin.messages() if m["file_id"] is not None and not m["deleted"]]
    assert left == []


def test_the_catalog_is_in_each_repository_and_recovers_every_copy_from_the_one_left(
    rt: Runtime, standin: BotApiStandin, tmp_path: Path, empty_db_url: str
) -> None:
    key = "integration-copies-catalog-key-0123456789abcdef"
    keyed = Runtime(
        settings=rt.settings.model_copy(update={"catalog_key": SecretStr(key)}),
        database=rt.database,
    )
    job_id = uploading_job(keyed, tmp_path)
    backup.upload_step(keyed, job_id, hostname=HOST)
    recording.record_step(keyed, job_id, hostname=HOST)
    done = catalog_publish.publish_all(keyed)
    chats = done["chats"]
    assert isinstance(chats, list)
    assert [(c["chat_id"], c["sent"]) for c in chats] == [(str(CHAT_A), True), (str(CHAT_B), True)]

    standin.revoke(TOKEN_A)  # the default repository is lost, and the control plane with it
    migrate.upgrade(empty_db_url)
    fresh = session.Database(empty_db_url)
    try:
        trust = catalog_recover.Trust(sign.Keys.of([key.encode()]), ("720002", "710001"))
        got = catalog_recover.recover(
            keyed.telegram,
            fresh,
            str(CHAT_B),
            trust=trust,
            spool_dir=tmp_path / "recover",
            identities=None,
        )
        assert (got.backups, got.parts) == (1, 3)
        with fresh.transaction() as s:
            row = db_backups.get_backup(s, s.scalars(select(models.Backup.id)).one())
            assert row is not None
            copies = db_backups.copies_of(s, row.id)
            assert [(c.index, c.repository) for c in copies] == [(i, "spare") for i in range(3)]
            remote = fetch.RemoteArtifact.from_backup(row, copies)
    finally:
        fresh.dispose()
    whole = b"".join((tmp_path / f"a.pgdump.{i + 1:03d}").read_bytes() for i in range(3))
    used: dict[int, str] = {}
    fetch.fetch(keyed.telegram, remote, tmp_path / "restored", used=used)
    assert (tmp_path / "restored").read_bytes() == whole
    assert set(used.values()) == {"spare"}
    keyed.close_telegram()


def test_the_parts_missing_in_a_repository_can_be_read_from_a_further_copy(
    rt: Runtime, tmp_path: Path
) -> None:
    job_id = uploading_job(rt, tmp_path)
    backup.upload_step(rt, job_id, hostname=HOST)
    recording.record_step(rt, job_id, hostname=HOST)
    with rt.database.transaction() as s:
        row = db_backups.get_backup_by_job(s, job_id)
        assert row is not None
        held = {c.index: c.file_id for c in db_backups.copies_of(s, row.id)}
        todo = db_copies.missing(s, source="spare", target="third", default="default")
        assert [(m.index, m.file_id, m.bot_id) for m in todo] == [
            (i, held[i], "720002") for i in range(3)
        ]
        assert db_copies.missing(s, source="default", target="spare", default="default") == []


def test_repair_refuses_a_bad_pair_of_repositories(rt: Runtime) -> None:
    with pytest.raises(errors.InputError, match="same repository"):
        repair.repair(rt, "spare", "spare")
    with pytest.raises(errors.InputError, match="repair into another"):
        repair.repair(rt, "spare", "default")
    with pytest.raises(errors.InputError, match="unknown repository 'lost'"):
        repair.repair(rt, "default", "lost")
