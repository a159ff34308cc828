"""Issue 25's acceptance test: three repositories on the stand-in, BACKUP_COPIES=2, 20 backups.

One repository's bot is revoked (401): every backup restores identically from its other copy;
`copies repair` brings every backup back to two copies that answer; then another repository's
chat is deleted (400 chat not found): every backup restores identically from the repaired
copies. Nothing is lost and nothing is stored twice in one repository, as the stand-in's own
stored messages and backup_part_copies both show. Real worker processes from the Procfile.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from standin.server import BotApiStandin
from tests.acceptance.conftest import Stack
from tests.acceptance.restore.support import (
    backup_row,
    cli,
    dump_text,
    new_target,
    send_restore,
    targets,
)

__all__ = ["targets"]  # a fixture, used by name

# (name, token, chat): `default` comes from TELEGRAM_BOT_TOKEN/TELEGRAM_CHAT_ID, the others from
# the repositories file; with two copies, each backup goes to `default` and `alpha`.
REPOSITORIES = (
    ("default", "750001:THREE-default-secret-ABCdefGHIjklMNOpqrSTU", -1007500000001),
    ("alpha", "760002:THREE-alpha-secret-ZYXwvuTSRqpoNMLkjiHGFedc", -1007600000002),
    ("beta", "770003:THREE-beta-secret-QWErtyUIOpasDFGhjkLZXcvbn", -1007700000003),
)
BACKUPS = 20
COPIES = 2

# One row per stored copy of a part: copy 0 (backup_parts, repository `default`) and the rest.
STORED = """
SELECT CAST(p.backup_id AS text), p.index, 'default', p.chat_id, p.message_id, p.sha256
  FROM control_plane.backup_parts p WHERE p.backup_id = ANY(CAST(:ids AS uuid[]))
UNION ALL
SELECT CAST(c.backup_id AS text), c.index, c.repository, c.chat_id, c.message_id, p.sha256
  FROM control_plane.backup_part_copies c
  JOIN control_plane.backup_parts p USING (backup_id, index)
 WHERE c.backup_id = ANY(CAST(:ids AS uuid[]))
"""

Row = tuple[str, int, str, str, int, str]  # backup, index, repository, chat, message, sha256


# Twenty backups in two copies each under Telegram's limits: about 65 s on 2 cores.
@pytest.mark.timeout(360)
def test_twenty_backups_survive_a_revoked_bot_and_a_deleted_chat(
    stack: Stack, tmp_path: Path, targets: list[str]
) -> None:
    tokens = [token for _, token, _ in REPOSITORIES]
    chats = [chat for _, _, chat in REPOSITORIES]
    with BotApiStandin(tokens=tokens, chats=chats, data_dir=tmp_path / "three") as standin:
        env = _settings(standin, tmp_path)
        stack.start_worker("--concurrency=2", "-n", f"three-{uuid.uuid4().hex[:6]}@%h", **env)
        jobs = [
            stack.send(project_id=f"proj-three-{n}", database=stack.source_db)
            for n in range(BACKUPS)
        ]
        ids = []
        for job_id in jobs:
            row = stack.wait_job(job_id, timeout=180)
            assert row["status"] == "completed", row["error"]
            ids.append(str(backup_row(stack, "job_id", job_id)["id"]))
        rows = _stored(stack, ids)
        parts = {(backup, index) for backup, index, *_ in rows}
        assert {backup for backup, _ in parts} == set(ids)
        assert Counter(repo for _, _, repo, *_ in rows) == {
            "default": len(parts),
            "alpha": len(parts),
        }
        _assert_stored_once(standin, rows, alive={"default", "alpha", "beta"})
        source = (dump_text(stack.source_db, "--schema-only"), dump_text(stack.source_db))

        standin.revoke(REPOSITORIES[0][1])  # repository `default`: every call answers 401
        _assert_every_backup_restores(stack, targets, ids, source, expect_from="alpha")

        repair = cli(
            stack.env(**env), "copies", "repair", "--from", "alpha", "--to", "beta", "--json"
        )
        assert repair.returncode == 0, repair.stdout
        assert json.loads(repair.stdout) == {"status": "ok", "created": len(parts), "failed": []}
        again = cli(
            stack.env(**env), "copies", "repair", "--from", "alpha", "--to", "beta", "--json"
        )
        assert json.loads(again.stdout) == {"status": "ok", "created": 0, "failed": []}
        rows = _stored(stack, ids)
        _assert_stored_once(standin, rows, alive={"alpha", "beta"})

        standin.delete_chat(REPOSITORIES[1][2])  # repository `alpha`: 400 chat not found
        _assert_every_backup_restores(stack, targets, ids, source, expect_from="beta")
        # Nothing lost: each part still has its intact copy in the one repository left.
        _assert_stored_once(standin, _stored(stack, ids), alive={"beta"}, copies=1)


def _settings(standin: BotApiStandin, tmp_path: Path) -> dict[str, str]:
    tables = []
    for name, token, chat in REPOSITORIES[1:]:
        tokens = tmp_path / f"{name}.tokens"
        tokens.write_text(token + "\n")
        tables.append(
            f'[repositories.{name}]\nbot_token_file = "{tokens}"\nchat_ids = ["{chat}"]\n'
        )
    repositories = tmp_path / "repositories.toml"
    repositories.write_text("\n".join(tables))
    _, token, chat = REPOSITORIES[0]
    return {
        "TELEGRAM_API_URL": standin.url,
        "TELEGRAM_BOT_TOKEN": token,
        "TELEGRAM_CHAT_ID": str(chat),
        "TELEGRAM_REPOSITORIES_FILE": str(repositories),
        "BACKUP_COPIES": str(COPIES),
    }


def _stored(stack: Stack, ids: list[str]) -> list[Row]:
    with stack.database.engine.connect() as conn:
        found = conn.execute(text(STORED), {"ids": ids}).all()
    return [(str(b), int(i), str(r), str(c), int(m), str(s)) for b, i, r, c, m, s in found]


def _assert_stored_once(
    standin: BotApiStandin, rows: list[Row], *, alive: set[str], copies: int = COPIES
) -> None:
    """Every part has `copies` copies in repositories still `alive`, no two in one repository,
    each a message the stand-in holds with the part's bytes, sent by that repository's bot
    into its chat; and the stand-in holds no part message the control plane does not know."""
    bots = {name: int(token.split(":")[0]) for name, token, _ in REPOSITORIES}
    chats = {name: str(chat) for name, _, chat in REPOSITORIES}
    held = {
        (str(message["chat_id"]), int(str(message["message_id"]))): message
        for message in standin.messages()
        if message["file_id"] is not None and not message["deleted"]
    }
    per_part: Counter[tuple[str, int, str]] = Counter()
    live: Counter[tuple[str, int]] = Counter()
    for backup, index, repo, chat, message_id, sha256 in rows:
        per_part[(backup, index, repo)] += 1
        assert chat == chats[repo], (backup, index, repo)
        if repo not in alive:
            continue
        message = held.get((chat, message_id))
        assert message is not None, f"backup {backup} part {index + 1}: lost in {repo}"
        assert message["sha256"] == sha256
        assert message["bot_id"] == bots[repo]
        live[(backup, index)] += 1
    assert max(per_part.values()) == 1, "a part stored twice in one repository"
    assert set(live.values()) == {copies}, Counter(live.values())
    recorded = {(chat, message_id) for _, _, _, chat, message_id, _ in rows}
    alive_chats = {chats[name] for name in alive}
    extra = [key for key in held if key[0] in alive_chats and key not in recorded]
    assert extra == [], f"stored but not recorded: {extra}"


def _assert_every_backup_restores(
    stack: Stack,
    targets: list[str],
    ids: list[str],
    source: tuple[str, str],
    *,
    expect_from: str,
) -> None:
    restores = {}
    for backup_id in ids:
        target = new_target(targets, "three")
        restores[target] = send_restore(stack, backup_id=backup_id, target_database=target)
    for target, job_id in restores.items():
        done = stack.wait_job(job_id, timeout=180)
        assert done["status"] == "completed", done["error"]
        used = done["result"]["copies_used"]  # type: ignore[index]
        assert set(used.values()) == {expect_from}
        assert (dump_text(target, "--schema-only"), dump_text(target)) == source
