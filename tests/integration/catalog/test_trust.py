"""The catalog in an untrusted chat, on real PostgreSQL and the stand-in: what publish deletes
(only what it recorded sending), rotation of CATALOG_KEY, no key, and what recovery refuses."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from sqlalchemy import text

from db import session
from standin.server import BotApiStandin
from tests.integration.catalog.test_catalog import (
    BOT,
    CHAT,
    KEYS,
    TOKEN,
    client,
    many_backups,
    rebuilt,
    restore,
    run,
    standin,
)
from tests.integration.scheduling.test_schedules import make_runtime
from worker import errors
from worker.catalog import publish, recover, sign
from worker.telegram import pins
from worker.telegram.client import TelegramClient

__all__ = ["client", "rebuilt", "standin"]
NEW = sign.Keys.of([b"the-new-catalog-key-0123456789abcdef0123"])
OLD = sign.Keys.of([b"the-old-catalog-key-0123456789abcdef0123"])
ROTATED = sign.Keys.of([*NEW.keys, *OLD.keys])


def alive(standin: BotApiStandin) -> set[int]:
    return {int(str(m["message_id"])) for m in standin.messages() if not m["deleted"]}


def states(database: session.Database) -> dict[int, str]:
    with database.engine.connect() as conn:
        found = conn.execute(text("SELECT message_id, state FROM control_plane.catalog_messages"))
        return {int(row.message_id): str(row.state) for row in found}


def test_rotation_re_signs_an_unchanged_catalog_and_old_ones_still_recover(
    client: TelegramClient,
    database: session.Database,
    rebuilt: session.Database,
    standin: BotApiStandin,
    tmp_path: Path,
) -> None:
    many_backups(database, 2)
    first = run(client, database, tmp_path, keys=OLD)
    assert not run(client, database, tmp_path, keys=OLD).sent
    trust = recover.Trust(ROTATED, (BOT,))
    assert restore(client, rebuilt, tmp_path, trust=trust).backups == 2
    second = run(client, database, tmp_path, keys=ROTATED)
    assert second.sent  # same rows, a new signing key: re-signed
    assert second.fingerprint == first.fingerprint
    assert second.removed == first.parts + 1
    assert not run(client, database, tmp_path, keys=ROTATED).sent
    with pytest.raises(errors.InputError, match="not in CATALOG_KEY"):
        recover.read_catalog(
            lambda _bot: client,
            CHAT,
            trust=recover.Trust(OLD, (BOT,)),
            spool_dir=tmp_path / "r",
            identities=None,
        )


def test_without_a_key_nothing_is_published_and_one_warning_says_why(
    database: session.Database,
    standin: BotApiStandin,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(publish, "_warned", [])
    many_backups(database, 1)
    rt = make_runtime(
        database.url,
        telegram_bot_token=TOKEN,
        telegram_api_url=standin.url,
        backup_spool_dir=tmp_path / "spool",
    )
    try:
        with caplog.at_level(logging.WARNING, logger=publish.__name__):
            done = [publish.publish_all(rt), publish.publish_all(rt)]
    finally:
        rt.close()
    assert [d["status"] for d in done] == ["skipped", "skipped"]
    assert "CATALOG_KEY is not set" in str(done[0]["reason"])
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert standin.requests("sendDocument") == []


def test_a_members_newer_pin_gets_a_new_catalog_and_is_left_alone(
    client: TelegramClient, database: session.Database, standin: BotApiStandin, tmp_path: Path
) -> None:
    many_backups(database, 2)
    first = run(client, database, tmp_path)
    theirs = standin.member_posts(int(CHAT), b"{}", "backup-worker-catalog-0.json")
    second = run(client, database, tmp_path)
    assert second.sent  # the catalog is no longer what getChat shows: pinned anew
    assert second.removed == first.parts + 1
    assert theirs in alive(standin)
    pinned = pins.pinned(client, CHAT)
    assert pinned is not None
    assert pinned.message_id == second.head_message_id


def test_after_recovery_the_next_publish_deletes_the_recovered_head_only(
    client: TelegramClient,
    database: session.Database,
    rebuilt: session.Database,
    standin: BotApiStandin,
    tmp_path: Path,
) -> None:
    many_backups(database, 3)
    first = run(client, database, tmp_path)
    restore(client, rebuilt, tmp_path)
    assert states(rebuilt) == {first.head_message_id: "superseded"}
    before = alive(standin)
    after = run(client, rebuilt, tmp_path)
    assert after.sent
    assert after.removed == 1
    assert before - alive(standin) == {first.head_message_id}  # its parts' ids came from the chat


def test_only_the_publishing_bots_own_records_are_deleted(
    client: TelegramClient, database: session.Database, standin: BotApiStandin, tmp_path: Path
) -> None:
    many_backups(database, 1)
    first = run(client, database, tmp_path)
    with database.engine.begin() as conn:  # as if another bot of the fleet had sent them
        conn.execute(text("UPDATE control_plane.catalog_messages SET bot_id = '654321'"))
    many_backups(database, 1)
    second = run(client, database, tmp_path)
    assert second.removed == 0
    assert first.head_message_id in alive(standin)
    assert set(states(database).values()) == {"superseded", "current"}


def test_a_head_published_for_another_chat_is_refused(
    database: session.Database, rebuilt: session.Database, tmp_path: Path
) -> None:
    other = "-1001234567891"
    many_backups(database, 1)
    with (
        BotApiStandin(tokens=[TOKEN], chats=[int(CHAT), int(other)]) as server,
        TelegramClient(TOKEN, server.url) as telegram,
    ):
        publish.publish(
            telegram,
            database,
            other,
            keys=NEW,
            bot_id=BOT,
            spool_dir=tmp_path / "spool",
            part_size=65536,
        )
        head = pins.pinned_document(telegram, other)
        assert head is not None
        copy = tmp_path / (head.file_name or "head.json")
        with copy.open("wb") as sink:
            telegram.download_file(head.file_id, sink)
        resent = telegram.send_document(CHAT, copy)  # by the bot itself: only the chat differs
        pins.pin(telegram, CHAT, resent.message_id)
        with pytest.raises(errors.InputError, match=f"published for chat {other}"):
            recover.recover(
                lambda _bot: telegram,
                rebuilt,
                CHAT,
                trust=recover.Trust(NEW, (BOT,)),
                spool_dir=tmp_path / "r",
                identities=None,
            )


def test_a_channel_post_needs_the_operators_word_and_still_its_signature(
    client: TelegramClient,
    database: session.Database,
    rebuilt: session.Database,
    standin: BotApiStandin,
    tmp_path: Path,
) -> None:
    many_backups(database, 1)
    run(client, database, tmp_path)
    real = pins.pinned_document(client, CHAT)
    assert real is not None
    sink = io.BytesIO()
    client.download_file(real.file_id, sink)
    name = real.file_name or "head.json"
    standin.member_posts(int(CHAT), sink.getvalue(), name, channel_post=True)
    with pytest.raises(errors.InputError, match=r"posted as a channel.*--channel-post"):
        restore(client, rebuilt, tmp_path)
    channel = recover.Trust(KEYS, (BOT,), channel_posts=True)
    standin.member_posts(
        int(CHAT), b'{"format": "backup-worker-catalog-head"}', name, channel_post=True
    )
    with pytest.raises(errors.InputError, match="not signed"):
        restore(client, rebuilt, tmp_path, trust=channel)
    standin.member_posts(int(CHAT), sink.getvalue(), name, channel_post=True)
    assert restore(client, rebuilt, tmp_path, trust=channel).backups == 1
    assert states(rebuilt) == {}  # not a message of the worker's bots: never its to delete
