"""The catalog on real PostgreSQL and the Bot API stand-in: publish, pin, replace, recover."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyrage
import pytest
from sqlalchemy import text

from db import migrate, session
from standin.server import BotApiStandin
from tests.integration.metrics import rows
from tests.integration.scheduling.test_schedules import make_runtime
from worker import errors
from worker.catalog import document, publish, recover, sign
from worker.telegram import pins
from worker.telegram.client import TelegramClient

TOKEN = "123456:CATALOG-token-ABCdefGHIjklMNOpqrSTUvwxyz"
CHAT = "-1001234567890"
PART_SIZE = 65536  # the smallest allowed: a catalog of a few hundred backups spans parts
KEY = "integration-catalog-key-0123456789abcdef0123"
KEYS = sign.Keys.of([KEY.encode()])
BOT = "123456"  # TOKEN's bot
TRUST = recover.Trust(KEYS, (BOT,))


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[BotApiStandin]:
    with BotApiStandin(tokens=[TOKEN], chats=[int(CHAT)], data_dir=tmp_path / "s") as server:
        yield server


@pytest.fixture
def client(standin: BotApiStandin) -> Iterator[TelegramClient]:
    with TelegramClient(TOKEN, standin.url, max_attempts=2) as telegram:
        yield telegram


@pytest.fixture
def rebuilt(empty_db_url: str) -> Iterator[session.Database]:
    """A new control-plane database, migrated, with nothing in it: the one that was lost."""
    migrate.upgrade(empty_db_url)
    fresh = session.Database(empty_db_url)
    yield fresh
    fresh.dispose()


def many_backups(database: session.Database, count: int) -> list[uuid.UUID]:
    """`count` one-part backups with random checksums and file ids, as real ones have."""
    made = [
        rows.backup(database, f"proj-{n % 7}", ago=f"{n} minutes", size=1000 + n)
        for n in range(count)
    ]
    random = "md5(random()::text) || md5(random()::text)"
    with database.engine.begin() as conn:
        conn.execute(text(f"UPDATE control_plane.backups SET sha256 = {random}"))
        conn.execute(
            text(
                f"UPDATE control_plane.backup_parts SET sha256 = {random},"
                f" file_id = 'BQACAgIAAxkDAAI' || {random}, file_unique_id = md5(random()::text)"
            )
        )
    return made


def table(database: session.Database, name: str, order: str) -> list[dict[str, object]]:
    with database.engine.connect() as conn:
        found = conn.execute(text(f"SELECT * FROM control_plane.{name} ORDER BY {order}"))
        return [dict(row) for row in found.mappings()]


def run(
    client: TelegramClient,
    database: session.Database,
    tmp_path: Path,
    recipients: Sequence[str] = (),
    keys: sign.Keys = KEYS,
) -> publish.Published:
    spool = tmp_path / "spool"
    return publish.publish(
        client,
        database,
        CHAT,
        keys=keys,
        bot_id=BOT,
        spool_dir=spool,
        part_size=PART_SIZE,
        recipients=recipients,
    )


def restore(
    client: TelegramClient,
    database: session.Database,
    tmp_path: Path,
    identities: Sequence[object] | None = None,
    trust: recover.Trust = TRUST,
) -> recover.Recovered:
    return recover.recover(
        lambda _bot: client,
        database,
        CHAT,
        trust=trust,
        spool_dir=tmp_path / "r",
        identities=identities,
    )


def test_a_catalog_of_several_parts_recovers_every_row(
    client: TelegramClient,
    database: session.Database,
    rebuilt: session.Database,
    standin: BotApiStandin,
    tmp_path: Path,
) -> None:
    many_backups(database, 400)
    with database.engine.begin() as conn:  # an expired backup is not in the catalog
        conn.execute(
            text("UPDATE control_plane.backups SET status = 'expired' WHERE size_bytes = 1000")
        )
    published = run(client, database, tmp_path)
    assert published.sent
    assert published.backups == 399
    assert published.parts >= 2, "the test wants a catalog larger than one part"
    pinned = pins.pinned_document(client, CHAT)
    assert pinned is not None
    assert pinned.message_id == published.head_message_id

    recovered = restore(client, rebuilt, tmp_path)
    assert (recovered.backups, recovered.parts) == (399, 399)
    assert recovered.fingerprint == published.fingerprint
    before = [
        {**row, "job_id": None}
        for row in table(database, "backups", "id")
        if row["status"] == "active"
    ]
    assert table(rebuilt, "backups", "id") == before
    active = {row["id"] for row in before}
    parts = [
        p for p in table(database, "backup_parts", "backup_id, index") if p["backup_id"] in active
    ]
    assert table(rebuilt, "backup_parts", "backup_id, index") == parts


def test_an_unchanged_catalog_is_not_sent_again_and_a_new_one_replaces_the_old(
    client: TelegramClient, database: session.Database, standin: BotApiStandin, tmp_path: Path
) -> None:
    many_backups(database, 3)
    first = run(client, database, tmp_path)
    again = run(client, database, tmp_path)
    assert (again.sent, again.fingerprint) == (False, first.fingerprint)
    sent = len(standin.requests("sendDocument"))
    assert sent == first.parts + 1  # the parts and the head, once
    rows.backup(database, "proj-new", ago="1 second")
    second = run(client, database, tmp_path)
    assert second.sent
    assert second.backups == 4
    assert second.removed == first.parts + 1  # the old head and its parts were deleted
    alive = [m for m in standin.messages() if not m["deleted"]]
    assert len(alive) == second.parts + 1
    pinned = pins.pinned_document(client, CHAT)
    assert pinned is not None
    assert pinned.message_id == second.head_message_id


def test_an_encrypted_catalog_needs_the_key_and_never_shows_plain_text(
    client: TelegramClient,
    database: session.Database,
    rebuilt: session.Database,
    standin: BotApiStandin,
    tmp_path: Path,
) -> None:
    identity = pyrage.x25519.Identity.generate()
    [backup_id] = many_backups(database, 1)
    published = run(client, database, tmp_path, recipients=[str(identity.to_public())])
    assert published.sent
    stored = b"".join(path.read_bytes() for path in (tmp_path / "s" / "files").iterdir())
    assert str(backup_id).encode() not in stored  # only the head is readable, and it names none
    with pytest.raises(errors.ConfigError, match="BACKUP_AGE_IDENTITY_FILE"):
        restore(client, rebuilt, tmp_path)
    done = restore(client, rebuilt, tmp_path, [identity])
    assert done.backups == 1
    assert [row["id"] for row in table(rebuilt, "backups", "id")] == [backup_id]


def test_recovery_refuses_a_database_that_has_backups(
    client: TelegramClient, database: session.Database, tmp_path: Path
) -> None:
    many_backups(database, 1)
    run(client, database, tmp_path)
    with pytest.raises(errors.InputError, match="already has 1 backups"):
        restore(client, database, tmp_path)


def test_a_chat_without_a_catalog_says_so(
    client: TelegramClient, rebuilt: session.Database, tmp_path: Path
) -> None:
    with pytest.raises(errors.NotFoundError, match="no pinned document"):
        restore(client, rebuilt, tmp_path)


def test_the_catalog_document_round_trips_and_refuses_strangers(
    database: session.Database,
) -> None:
    many_backups(database, 2)
    with database.sessionmaker() as db_session:
        catalog = document.build(db_session)
    assert document.loads(document.dumps(catalog)) == catalog
    with pytest.raises(errors.InputError):
        document.loads(b'{"format": "something else"}')


def test_every_configured_chat_gets_its_catalog_through_the_paced_sender(
    database: session.Database, tmp_path: Path
) -> None:
    second = "-1001234567891"
    many_backups(database, 3)
    with BotApiStandin(
        tokens=[TOKEN], chats=[int(CHAT), int(second)], data_dir=tmp_path / "two"
    ) as server:
        rt = make_runtime(
            database.url,
            telegram_bot_token=TOKEN,
            telegram_chat_id=f"{CHAT},{second}",
            telegram_api_url=server.url,
            backup_spool_dir=tmp_path / "spool",
            catalog_key=KEY,
        )
        try:
            done = publish.publish_all(rt)
            chats = done["chats"]
            assert isinstance(chats, list)
            assert [chat["chat_id"] for chat in chats] == [CHAT, second]
            for chat in (CHAT, second):
                pinned = pins.pinned_document(rt.telegram(), chat)
                assert pinned is not None
                assert (pinned.file_name or "").startswith("backup-worker-catalog-")
        finally:
            rt.close()
