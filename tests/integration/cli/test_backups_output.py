"""`backups show`, `backups forget [--dry-run]` and `sweep --dry-run` through click, on real
PostgreSQL and the Bot API stand-in (the sweep tests' Chat records backups of real messages)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner, Result

from db import session
from db.queries import restores as db_restores
from tests.integration.scheduling.test_sweep import CHAT, DAY, TOKEN, Chat, chat
from worker import settings
from worker.cli import main

__all__ = ["chat"]  # the fixture, used by name


@pytest.fixture
def cli(chat: Chat, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A runner whose commands read the test's control plane and talk to its stand-in."""
    for name, value in {
        "DATABASE_URL": chat.db.url,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_CHAT_ID": str(CHAT),
        "TELEGRAM_API_URL": chat.standin.url,
        "TELEGRAM_MAX_ATTEMPTS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    settings.current.cache_clear()
    yield CliRunner()
    settings.current.cache_clear()


def run(cli: CliRunner, *args: str) -> Result:
    return cli.invoke(main.main, list(args))


def deletes(chat: Chat) -> int:
    return len(chat.standin.requests("deleteMessage"))


def test_show_prints_everything_about_one_backup(chat: Chat, cli: CliRunner) -> None:
    backup_id = chat.backup("p-show", parts=2)
    parts = chat.parts(backup_id)

    shown = run(cli, "backups", "show", str(backup_id)[:8])

    assert shown.exit_code == 0, shown.output
    for text in (str(backup_id), "p-show", "server", "default", "2 parts", "encrypted", "none"):
        assert text in shown.stdout
    for part in parts:
        assert str(part.message_id) in shown.stdout
        assert part.sha256[:12] in shown.stdout
    assert "made by   no job on record" in shown.stdout
    whole = json.loads(run(cli, "backups", "show", str(backup_id), "--json").stdout)
    assert whole["backup"]["id"] == str(backup_id)
    assert [p["message_id"] for p in whole["backup"]["parts"]] == [p.message_id for p in parts]
    assert whole["job"] is None
    unknown = run(cli, "backups", "show", "0000000f", "--json")
    assert (unknown.exit_code, json.loads(unknown.stdout)["error"]) == (
        2,
        "no backup id starts with 0000000f",
    )


def test_forget_dry_run_lists_the_messages_and_changes_nothing(chat: Chat, cli: CliRunner) -> None:
    chat.backup("p-forget", age=DAY)
    older = chat.backup("p-forget", parts=2, age=2 * DAY)

    planned = run(cli, "backups", "forget", str(older)[:8], "--dry-run", "--json")

    assert planned.exit_code == 0, planned.output
    plan = json.loads(planned.stdout)
    assert plan["dry_run"] is True
    assert [(p["message_id"], p["action"]) for p in plan["parts"]] == [
        (p.message_id, "delete") for p in chat.parts(older)
    ]
    said = run(cli, "backups", "forget", str(older)[:8], "--dry-run").stdout
    assert "would     mark it expired and delete 2 message(s)" in said
    assert "nothing was changed" in said
    assert deletes(chat) == 0
    assert chat.status(older) == "active"
    assert [p.delete_status for p in chat.parts(older)] == [None, None]


def test_forget_deletes_the_messages_through_the_sweeps_path(chat: Chat, cli: CliRunner) -> None:
    chat.backup("p-forget", age=DAY)
    young = chat.backup("p-forget", parts=2, age=2 * DAY)
    old = chat.backup("p-forget", parts=1, age=3 * DAY)
    chat.age(old)

    done = run(cli, "backups", "forget", str(young), "--json")

    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["parts_deleted"] == 2
    assert chat.status(young) == "deleted"
    assert chat.deleted_messages() == {p.message_id for p in chat.parts(young)}
    # Past Telegram's 48 hours: refused, recorded, the record stays expired.
    said = run(cli, "backups", "forget", str(old)[:8])
    assert said.exit_code == 0, said.output
    assert "0 deleted, 0 already gone, 1 undeletable" in said.stdout
    assert chat.status(old) == "expired"
    assert [p.delete_status for p in chat.parts(old)] == ["undeletable"]


def test_the_last_good_backup_is_forgotten_only_with_force(
    chat: Chat, cli: CliRunner, database: session.Database
) -> None:
    only = chat.backup("p-last", parts=1)
    broken = chat.backup("p-last", parts=1, age=DAY)  # active, but its verification failed
    with database.transaction() as s:
        db_restores.record_verification(s, broken, ok=False)

    refused = run(cli, "backups", "forget", str(only)[:8])

    assert refused.exit_code == 2
    assert "is the last good backup of p-last / app" in refused.stderr
    assert "--force" in refused.stderr
    assert (chat.status(only), deletes(chat)) == ("active", 0)
    forced = run(cli, "backups", "forget", str(only)[:8], "--force", "--json")
    assert forced.exit_code == 0, forced.output
    outcome = json.loads(forced.stdout)
    assert (outcome["status"], outcome["backup_status_before"]) == ("ok", "active")
    assert outcome["backup_status"] == chat.status(only) == "deleted"


def test_sweep_dry_run_lists_what_the_sweep_then_deletes(chat: Chat, cli: CliRunner) -> None:
    chat.backup(age=DAY)
    due = chat.backup(age=2 * DAY, expired=True)
    newest = chat.backup("proj-2", expired=True)  # the last proj-2 has: kept

    planned = run(cli, "sweep", "--dry-run", "--json")

    assert planned.exit_code == 0, planned.output
    plan = json.loads(planned.stdout)
    assert plan["expire"] == [str(due)]
    listed = {p["message_id"] for p in plan["parts"]}
    assert listed == {p.message_id for p in chat.parts(due)}
    assert (deletes(chat), chat.status(due), chat.status(newest)) == (0, "active", "active")
    said = run(cli, "sweep", "--dry-run").stdout
    assert str(due) in said
    assert "nothing was changed" in said

    swept = run(cli, "sweep")
    assert swept.exit_code == 0, swept.output
    assert "2 deleted" in swept.stdout
    assert chat.deleted_messages() == listed
    assert chat.status(due) == "deleted"
