"""copies.repair by beat (worker.backup.refill): three repositories, BACKUP_COPIES=2, one of
them lost; every part back to two live copies, none twice in one repository, a bounded number
per run, and nothing more once whole."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from db import session
from db.queries import backups as db_backups
from standin.server import BotApiStandin
from tests.integration.backup.test_copies import HOST, uploading_job
from worker import settings
from worker.backup import recording, refill
from worker.backup import steps as backup
from worker.jobs.runtime import Runtime

TOKEN_A = "710001:REFILL-default-ABCdefGHIjklMNOpqrSTU"
TOKEN_B = "720002:REFILL-spare-ABCdefGHIjklMNOpqrSTUvw"
TOKEN_C = "730003:REFILL-third-ABCdefGHIjklMNOpqrSTUvw"
CHAT_A = -1007100000001
CHAT_B = -1007200000002
CHAT_C = -1007300000003


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[BotApiStandin]:
    with BotApiStandin(
        tokens=[TOKEN_A, TOKEN_B, TOKEN_C],
        chats=[CHAT_A, CHAT_B, CHAT_C],
        data_dir=tmp_path / "standin",
    ) as server:
        yield server


@pytest.fixture
def rt(database: session.Database, standin: BotApiStandin, tmp_path: Path) -> Iterator[Runtime]:
    tables = []
    for name, token, chat in (("spare", TOKEN_B, CHAT_B), ("third", TOKEN_C, CHAT_C)):
        tokens = tmp_path / f"{name}.tokens"
        tokens.write_text(token + "\n")
        tables.append(
            f'[repositories.{name}]\nbot_token_file = "{tokens}"\nchat_ids = ["{chat}"]\n'
        )
    repositories = tmp_path / "repositories.toml"
    repositories.write_text("\n".join(tables))
    config = settings.Settings(
        _env_file=None,
        telegram_bot_token=TOKEN_A,
        telegram_chat_id=str(CHAT_A),
        telegram_api_url=standin.url,
        telegram_max_attempts=2,
        telegram_repositories_file=repositories,
        backup_copies=2,
        copies_repair_parts=100,
        telegram_chat_per_second=50,
        telegram_group_per_minute=1000,
        telegram_pacer_max_sleep=30,
        backup_spool_dir=tmp_path / "spool",
    )
    runtime = Runtime(settings=config, database=database)
    yield runtime
    runtime.close_telegram()


def backups(rt: Runtime, tmp_path: Path, count: int = 2) -> list[uuid.UUID]:
    """`count` backups of three parts, each stored in `default` and `spare`."""
    made = []
    for number in range(count):
        folder = tmp_path / f"backup-{number}"
        folder.mkdir()
        job_id = uploading_job(rt, folder)
        backup.upload_step(rt, job_id, hostname=HOST)
        recording.record_step(rt, job_id, hostname=HOST)
        made.append(job_id)
    return made


def holders(rt: Runtime, job_ids: list[uuid.UUID]) -> dict[tuple[uuid.UUID, int], list[str]]:
    """Each part's repositories, copy 0's `default` first, then its further copies in order."""
    found: dict[tuple[uuid.UUID, int], list[str]] = {}
    with rt.database.transaction() as s:
        for job_id in job_ids:
            row = db_backups.get_backup_by_job(s, job_id)
            assert row is not None
            for index in range(row.part_count):
                found[(job_id, index)] = ["default"]
            for copy in db_backups.copies_of(s, row.id):
                found[(job_id, copy.index)].append(copy.repository)
    return found


def test_a_lost_repository_is_skipped_and_every_part_gets_its_second_copy_once(
    rt: Runtime, standin: BotApiStandin, tmp_path: Path
) -> None:
    made = backups(rt, tmp_path)
    assert set(map(tuple, holders(rt, made).values())) == {("default", "spare")}
    standin.delete_chat(CHAT_B)  # `spare` is gone: its copies with it

    done = refill.run(rt)
    assert (done["created"], done["short"], done["failed"]) == (6, 0, [])
    assert done["gone"] == ["spare"]  # the probe said so: nothing was sent to it
    after = holders(rt, made)
    assert set(map(tuple, after.values())) == {("default", "spare", "third")}
    assert all(max(Counter(names).values()) == 1 for names in after.values())
    third = [m for m in standin.messages() if m["chat_id"] == CHAT_C and not m["deleted"]]
    assert len(third) == 6

    # Whole again: a second run reads nothing and sends nothing.
    sends = len(standin.messages())
    again = refill.run(rt)
    assert (again["created"], again["short"], again["failed"]) == (0, 0, [])
    assert len(standin.messages()) == sends


def test_with_copy_0_lost_the_parts_are_read_from_the_next_repository(
    rt: Runtime, standin: BotApiStandin, tmp_path: Path
) -> None:
    made = backups(rt, tmp_path, count=1)
    standin.revoke(TOKEN_A)  # `default` answers 401: copy 0 is unreadable

    done = refill.run(rt)
    assert (done["created"], done["short"], done["failed"]) == (3, 0, [])
    assert done["gone"] == ["default"]
    assert set(map(tuple, holders(rt, made).values())) == {("default", "spare", "third")}
    spare = {m["file_unique_id"] for m in standin.messages() if m["chat_id"] == CHAT_B}
    third = {m["file_unique_id"] for m in standin.messages() if m["chat_id"] == CHAT_C}
    assert len(third) == 3
    assert third == spare  # the same files, read from `spare`


def test_a_run_re_creates_at_most_its_limit_and_the_next_runs_finish_the_rest(
    rt: Runtime, standin: BotApiStandin, tmp_path: Path
) -> None:
    made = backups(rt, tmp_path)
    standin.delete_chat(CHAT_B)
    up = {"default": True, "spare": False, "third": True}

    runs = [refill.refill(rt, limit=4, up=up) for _ in range(3)]
    assert [(r.created, r.short) for r in runs] == [(4, 2), (2, 0), (0, 0)]
    assert set(map(tuple, holders(rt, made).values())) == {("default", "spare", "third")}


def test_a_target_that_answers_gone_is_dropped_for_the_rest_of_the_run(
    rt: Runtime, standin: BotApiStandin, tmp_path: Path
) -> None:
    made = backups(rt, tmp_path)
    standin.delete_chat(CHAT_B)
    standin.delete_chat(CHAT_C)  # the probe has not seen it yet: its first send says so
    up = {"default": True, "spare": False}

    done = refill.refill(rt, limit=100, up=up)
    assert done.created == 0
    assert done.gone == ["spare", "third"]
    assert len(done.failed) == 1
    assert "into repository third" in done.failed[0]
    assert done.short == 6  # still short, tried again by the next run
    assert set(map(tuple, holders(rt, made).values())) == {("default", "spare")}
