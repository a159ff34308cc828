"""BACKUP_COPIES=2: the upload step sends every part to two repositories, the record step
records both copies, and a repository that fails is named in the error."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from db import ledger, models, session
from db.queries import backups as db_backups
from db.queries import copies as db_copies
from db.queries import jobs as db_jobs
from standin.server import BotApiStandin
from worker import errors, settings
from worker.artifact import manifest
from worker.backup import copying, recording
from worker.backup import sent as sent_parts
from worker.backup import steps as backup
from worker.cli.preflight import bots
from worker.jobs import state
from worker.jobs.runtime import Runtime
from worker.restore import fetch
from worker.scheduling import sweep

HOST = "w1@host-a"
TOKEN_A = "710001:COPIES-default-ABCdefGHIjklMNOpqrSTU"
TOKEN_B = "720002:COPIES-spare-ABCdefGHIjklMNOpqrSTUvw"
CHAT_A = -1007100000001
CHAT_B = -1007200000002


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[BotApiStandin]:
    with BotApiStandin(
        tokens=[TOKEN_A, TOKEN_B], chats=[CHAT_A, CHAT_B], data_dir=tmp_path / "standin"
    ) as server:
        yield server


@pytest.fixture
def rt(database: session.Database, standin: BotApiStandin, tmp_path: Path) -> Iterator[Runtime]:
    tokens = tmp_path / "spare.tokens"
    tokens.write_text(TOKEN_B + "\n")
    repositories = tmp_path / "repositories.toml"
    repositories.write_text(
        f'[repositories.spare]\nbot_token_file = "{tokens}"\nchat_ids = ["{CHAT_B}"]\n'
    )
    config = settings.Settings(
        _env_file=None,
        telegram_bot_token=TOKEN_A,
        telegram_chat_id=str(CHAT_A),
        telegram_api_url=standin.url,
        telegram_max_attempts=2,
        telegram_repositories_file=repositories,
        backup_copies=2,
        telegram_chat_per_second=50,
        telegram_group_per_minute=1000,
        telegram_pacer_max_sleep=30,
        backup_spool_dir=tmp_path / "spool",
    )
    runtime = Runtime(settings=config, database=database)
    yield runtime
    runtime.close_telegram()


def uploading_job(rt: Runtime, tmp_path: Path, parts: int = 3) -> uuid.UUID:
    """A backup job whose dump wrote `parts` parts, about to upload them."""
    files = []
    for index in range(parts):
        path = tmp_path / f"a.pgdump.{index + 1:03d}"
        content = f"part {index} ".encode() * 100
        path.write_bytes(content)
        files.append(
            manifest.PartFile(index, path, len(content), hashlib.sha256(content).hexdigest())
        )
    whole = b"".join(f.path.read_bytes() for f in files)
    artifact = manifest.Artifact(
        filename="a.pgdump",
        compression="none",
        encrypted=False,
        recipients=(),
        size_bytes=sum(f.size_bytes for f in files),
        sha256=hashlib.sha256(whole).hexdigest(),
        raw_bytes=sum(f.size_bytes for f in files),
        parts=tuple(files),
    ).to_json()
    job_id = uuid.uuid4()
    with rt.database.transaction() as s:
        db_jobs.create_job(
            s,
            job_id=job_id,
            type="backup",
            project_id="proj-1",
            payload={"project_id": "proj-1", "database": "app", "chat_id": str(CHAT_A)},
            celery_task_id=None,
        )
        s.execute(
            update(models.Job)
            .where(models.Job.id == job_id)
            .values(
                status="running",
                attempts=1,
                worker_hostname=HOST,
                stage="dump",
                progress=50,
                result={"artifact": artifact, "uploaded": {}},
            )
        )
    return job_id


def job_row(rt: Runtime, job_id: uuid.UUID) -> models.Job:
    with rt.database.transaction() as s:
        found = db_jobs.get_job(s, job_id)
        assert found is not None
        s.expunge(found)
        return found


def test_every_part_goes_to_both_repositories_and_both_copies_are_recorded(
    rt: Runtime, standin: BotApiStandin, tmp_path: Path
) -> None:
    job_id = uploading_job(rt, tmp_path)
    backup.upload_step(rt, job_id, hostname=HOST)
    recording.record_step(rt, job_id, hostname=HOST)

    assert job_row(rt, job_id).status == "completed"
    with rt.database.transaction() as s:
        row = db_backups.get_backup_by_job(s, job_id)
        assert row is not None
        copies = db_backups.copies_of(s, row.id)
        parts = list(
            s.scalars(select(models.BackupPart).where(models.BackupPart.backup_id == row.id))
        )
    assert {(p.chat_id, p.bot_id) for p in parts} == {(str(CHAT_A), "710001")}
    assert [(c.index, c.copy, c.repository) for c in copies] == [(i, 1, "spare") for i in range(3)]
    assert {(c.chat_id, c.bot_id) for c in copies} == {(str(CHAT_B), "720002")}
    # Each copy is its own message in its own chat, each part sent once per repository.
    sent = [(int(str(m["chat_id"])), int(str(m["message_id"]))) for m in standin.messages()]
    assert sorted(chat for chat, _ in sent) == [CHAT_B] * 3 + [CHAT_A] * 3
    assert {(int(c.chat_id), c.message_id) for c in copies} <= set(sent)


def test_each_part_goes_to_every_copy_before_the_next_part_is_taken(
    rt: Runtime, standin: BotApiStandin, tmp_path: Path
) -> None:
    # One bot and one chat per repository: a batch is one part, so the copies alternate.
    job_id = uploading_job(rt, tmp_path, parts=4)
    job = job_row(rt, job_id)
    spare = rt.repositories().get("spare")
    copies = [
        copying.Copy(sent_parts.Sent.of(rt, job, HOST), rt.sender()),
        copying.Copy(sent_parts.Sent.copy_of(rt, job, HOST, spare), rt.sender(spare)),
    ]
    seen: list[int] = []
    art = state.BackupState.of(job).manifest(job_id)
    copying.send(
        copies,
        art,
        on_sent=lambda number, part, moved: copies[number].sent.add(part, moved),
        amounts=seen.append,
        max_wait=None,
        reserved=None,
    )
    order = [
        (int(str(m["chat_id"])), str(m["file_name"])[-3:])
        for m in standin.messages()
        if m["file_id"] is not None
    ]
    assert order == [(chat, f"{n:03d}") for n in range(1, 5) for chat in (CHAT_A, CHAT_B)]
    # The progress over both copies only grows, up to twice the artifact.
    assert seen == sorted(seen)
    assert seen[-1] == 2 * art.size_bytes
    assert len(state.BackupState.of(job_row(rt, job_id)).copies["spare"]) == 4


def test_a_copy_that_fails_is_named_and_the_sent_copy_is_kept_for_the_next_run(
    rt: Runtime, standin: BotApiStandin, tmp_path: Path
) -> None:
    job_id = uploading_job(rt, tmp_path)
    standin.revoke(TOKEN_B)
    with pytest.raises(errors.TelegramError, match=r"copy 2 of 2 \(repository spare\)"):
        backup.upload_step(rt, job_id, hostname=HOST)
    with pytest.raises(errors.AttemptSuperseded, match=r"not uploaded yet"):
        recording.record_step(rt, job_id, hostname=HOST)
    job = job_row(rt, job_id)
    # The copies go a batch (here one part) at a time: copy 2 failed at the first part.
    assert list(job.result["uploaded"]) == ["0"]  # type: ignore[index]

    # Once the repository answers again, the next run sends only what is missing.
    standin.reinstate(TOKEN_B)
    before = len(standin.messages())
    backup.upload_step(rt, job_id, hostname=HOST)
    recording.record_step(rt, job_id, hostname=HOST)
    assert len(standin.messages()) == before + 5  # copy 1's parts 2 and 3, copy 2's three
    assert job_row(rt, job_id).status == "completed"


def stored(rt: Runtime, tmp_path: Path) -> tuple[fetch.RemoteArtifact, bytes]:
    """A backup recorded with two copies, as fetch reads it, and its artifact's bytes."""
    job_id = uploading_job(rt, tmp_path)
    backup.upload_step(rt, job_id, hostname=HOST)
    recording.record_step(rt, job_id, hostname=HOST)
    whole = b"".join((tmp_path / f"a.pgdump.{i + 1:03d}").read_bytes() for i in range(3))
    with rt.database.transaction() as s:
        row = db_backups.get_backup_by_job(s, job_id)
        assert row is not None
        return fetch.RemoteArtifact.from_backup(row, db_backups.copies_of(s, row.id)), whole


@pytest.mark.parametrize("loss", ["none", "bot revoked", "chat deleted", "file deleted"])
def test_each_part_is_read_from_the_first_copy_still_there(
    rt: Runtime, standin: BotApiStandin, tmp_path: Path, loss: str
) -> None:
    remote, whole = stored(rt, tmp_path)
    if loss == "bot revoked":
        standin.revoke(TOKEN_A)
    elif loss == "chat deleted":
        standin.delete_chat(CHAT_A)
    elif loss == "file deleted":  # part 2's copy 0 only
        with rt.database.transaction() as s:
            part = s.get(models.BackupPart, (remote_id(rt, remote), 1))
            assert part is not None
            standin.forget(int(part.chat_id), part.message_id)
    used: dict[int, str] = {}
    fetch.fetch(rt.telegram, remote, tmp_path / "restored", used=used)
    assert (tmp_path / "restored").read_bytes() == whole
    expected = {
        "none": ["default"] * 3,
        "bot revoked": ["spare"] * 3,
        "chat deleted": ["spare"] * 3,
        "file deleted": ["default", "spare", "default"],
    }[loss]
    assert [used[i] for i in range(3)] == expected


def test_with_every_copy_gone_the_part_names_each_repository(
    rt: Runtime, standin: BotApiStandin, tmp_path: Path
) -> None:
    remote, _ = stored(rt, tmp_path)
    standin.revoke(TOKEN_A)
    standin.delete_chat(CHAT_B)
    with pytest.raises(errors.IntegrityError, match="part 1 of 3: no copy is intact") as caught:
        fetch.fetch(rt.telegram, remote, tmp_path / "restored")
    assert "repository default" in caught.value.message
    assert "repository spare" in caught.value.message


def remote_id(rt: Runtime, remote: fetch.RemoteArtifact) -> uuid.UUID:
    return uuid.UUID(remote.label.removeprefix("backup "))


def test_the_orphan_sweep_sees_the_copies_as_held_by_their_backup(
    rt: Runtime, standin: BotApiStandin, tmp_path: Path
) -> None:
    stored(rt, tmp_path)
    later = datetime.now(UTC) + timedelta(hours=1)
    with rt.database.transaction() as s:
        sent = ledger.unsettled(s, sent_before=later, limit=100)
    assert {(int(m.chat_id), m.kept) for m in sent} == {(CHAT_A, True), (CHAT_B, True)}
    assert len(sent) == 6


@pytest.mark.parametrize("revoked", [False, True])
def test_the_sweep_deletes_every_copy_of_an_expired_backup(
    rt: Runtime, standin: BotApiStandin, tmp_path: Path, revoked: bool
) -> None:
    remote, _ = stored(rt, tmp_path)
    backup_id = remote_id(rt, remote)
    with rt.database.transaction() as s:
        s.execute(
            update(models.Backup)
            .where(models.Backup.id == backup_id)
            .values(status=models.BackupStatus.EXPIRED.value)
        )
    if revoked:
        standin.revoke(TOKEN_B)
    result = sweep.SweepResult()
    sweep.delete_parts(rt, rt.telegram, result)
    sweep.delete_copies(rt, rt.telegram, result)

    assert result.parts_deleted == 3
    assert (result.copies_deleted, result.copies_lost) == ((0, 3) if revoked else (3, 0))
    deleted = {(int(str(m["chat_id"])), bool(m.get("deleted"))) for m in standin.messages()}
    assert deleted == {(CHAT_A, True), (CHAT_B, not revoked)}
    with rt.database.transaction() as s:
        states = db_copies.states(s, backup_id)
        row = db_backups.get_backup(s, backup_id)
        assert row is not None
        assert row.status == models.BackupStatus.DELETED.value
    status = "undeletable" if revoked else "deleted"
    assert list(states) == [(i, 1, status) for i in range(3)]
    # Settled: a later sweep tries none of them again.
    again = sweep.SweepResult()
    sweep.delete_copies(rt, rt.telegram, again)
    assert (again.copies_deleted, again.copies_lost) == (0, 0)


def test_check_names_each_repository_and_the_one_lost(rt: Runtime, standin: BotApiStandin) -> None:
    standin.revoke(TOKEN_B)
    groups = bots.groups(rt.settings, 5.0)
    names = [group.name for group in groups]
    assert "repository spare: bot 720002" in names
    assert f"repository spare: chat {CHAT_B} (bot 720002)" in names
    verdicts = {v.check: v.status for group in groups for v in group.run()}
    assert verdicts["bot 710001"] == "ok"
    lost = [check for check, status in verdicts.items() if status == "fail"]
    assert lost
    assert all("720002" in check for check in lost)
