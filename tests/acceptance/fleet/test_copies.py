"""Two copies in two repositories (docs/fleet.md, "Copies"): a worker started with the
Procfile's command stores each backup in both; one repository's bot revoked, every backup
still restores identically from the other."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import text

from standin.server import BotApiStandin
from tests.acceptance.conftest import Stack
from tests.acceptance.restore.support import (
    assert_same_database,
    backup_row,
    new_target,
    send_restore,
    targets,
)

__all__ = ["targets"]  # a fixture, used by name

TOKENS = (
    "730001:COPIES-one-secret-ABCdefGHIjklMNOpqrSTUvwxyz",
    "740002:COPIES-two-secret-ZYXwvuTSRqpoNMLkjiHGFedcba",
)
CHATS = (-1007300000001, -1007400000002)
BACKUPS = 3


def test_every_backup_restores_from_the_other_copy_once_a_bot_is_revoked(
    stack: Stack, tmp_path: Path, targets: list[str]
) -> None:
    with BotApiStandin(
        tokens=list(TOKENS), chats=list(CHATS), data_dir=tmp_path / "copies-standin"
    ) as standin:
        tokens = tmp_path / "spare.tokens"
        tokens.write_text(TOKENS[1] + "\n")
        repositories = tmp_path / "repositories.toml"
        repositories.write_text(
            f'[repositories.spare]\nbot_token_file = "{tokens}"\nchat_ids = ["{CHATS[1]}"]\n'
        )
        stack.start_worker(
            "--concurrency=2",
            "-n",
            f"copies-{uuid.uuid4().hex[:6]}@%h",
            TELEGRAM_API_URL=standin.url,
            TELEGRAM_BOT_TOKEN=TOKENS[0],
            TELEGRAM_CHAT_ID=str(CHATS[0]),
            TELEGRAM_REPOSITORIES_FILE=str(repositories),
            BACKUP_COPIES="2",
        )
        backup_ids = []
        for n in range(BACKUPS):
            job_id = stack.send(project_id=f"proj-copies-{n}", database=stack.source_db)
            row = stack.wait_job(job_id, timeout=120)
            assert row["status"] == "completed", row["error"]
            backup_ids.append(str(backup_row(stack, "job_id", job_id)["id"]))
        with stack.database.engine.connect() as conn:
            copies = conn.execute(
                text(
                    "SELECT c.repository, c.chat_id, c.bot_id, p.chat_id, p.bot_id"
                    " FROM control_plane.backup_part_copies c JOIN control_plane.backup_parts p"
                    " USING (backup_id, index) WHERE backup_id = ANY(CAST(:ids AS uuid[]))"
                ),
                {"ids": backup_ids},
            ).all()
        assert len(copies) >= BACKUPS
        assert {tuple(row) for row in copies} == {
            ("spare", str(CHATS[1]), "740002", str(CHATS[0]), "730001")
        }

        standin.revoke(TOKENS[0])  # the default repository is lost
        for backup_id in backup_ids:
            target = new_target(targets, "copies")
            job_id = send_restore(stack, backup_id=backup_id, target_database=target)
            restored = stack.wait_job(job_id, timeout=120)
            assert restored["status"] == "completed", restored["error"]
            used = restored["result"]["copies_used"]  # type: ignore[index]
            assert set(used.values()) == {"spare"}
            assert_same_database(stack.source_db, target)
