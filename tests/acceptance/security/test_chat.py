"""The chat is untrusted: what a member posts and pins is never read, or deleted, as the catalog.

Real worker, Redis, PostgreSQL and the Bot API stand-in, driven through the CLI as an operator
would (`backup-worker catalog publish|recover`). A member posts and pins a document named like
the catalog's head; a bot-sent head that is unsigned, or signed with another key; an unencrypted
catalog where recipients are configured. Publishing deletes only what the worker recorded it
sent, and recovery refuses everything it cannot authenticate, inserting nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyrage
import pytest
from sqlalchemy import text

from db.session import Database
from tests.acceptance.conftest import CHAT, TOKEN, Stack
from tests.acceptance.restore.support import PART_SIZE, cli, make_backup
from tests.support import scratch
from worker.artifact import stream
from worker.catalog import document
from worker.telegram import pins
from worker.telegram.client import TelegramClient

KEY = "catalog-key-of-this-deployment-0123456789abcdef"
OTHER_KEY = "catalog-key-of-another-deployment-0123456789ab"
HEAD_NAME = "backup-worker-catalog-0123456789abcdef.json"


@pytest.fixture
def lost_and_rebuilt() -> Iterator[Database]:
    """The control-plane database made anew: migrated, empty."""
    with scratch.database(migrated=True) as url:
        fresh = Database(url)
        yield fresh
        fresh.dispose()


def forged_head(message_ids: list[int], parts: list[dict[str, object]] | None = None) -> bytes:
    """A head as the unsigned catalog format had it, naming whatever the forger wants."""
    return json.dumps(
        {
            "format": "backup-worker-catalog-head",
            "version": 1,
            "fingerprint": "0123456789abcdef",
            "backups": 1,
            "compression": "zstd",
            "encrypted": False,
            "recipients": [],
            "size_bytes": sum(int(str(part["size_bytes"])) for part in parts or []),
            "sha256": "0" * 64,
            "parts": parts or [],
            "message_ids": message_ids,
        }
    ).encode()


def publish(stack: Stack, **env: str) -> dict[str, object]:
    done = cli(stack.env(BACKUP_PART_SIZE=PART_SIZE, **env), "catalog", "publish", "--json")
    assert done.returncode == 0, done.stderr
    [chat] = json.loads(done.stdout)["chats"]
    assert chat["sent"], chat
    return dict(chat)


def backups_in(database: Database) -> int:
    with database.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM control_plane.backups")).scalar_one())


def recover(stack: Stack, database: Database, **env: str) -> tuple[int, str]:
    """`catalog recover --json` into `database`: its exit status, and what it printed."""
    url = database.engine.url.render_as_string(hide_password=False)
    done = cli(stack.env(DATABASE_URL=url, **env), "catalog", "recover", "--chat", CHAT, "--json")
    return done.returncode, done.stdout + done.stderr  # --json: the error is on stdout


@pytest.mark.timeout(300)
def test_a_members_pinned_catalog_gets_nothing_deleted(stack: Stack) -> None:
    stack.start_worker(BACKUP_PART_SIZE=PART_SIZE)
    made = [make_backup(stack, stack.source_db, f"proj-chat-{n}") for n in range(2)]
    first = publish(stack, CATALOG_KEY=KEY)
    forged = stack.standin.member_posts(int(CHAT), forged_head(list(range(1, 11))), HEAD_NAME)
    made.append(make_backup(stack, stack.source_db, "proj-chat-2"))  # the catalog changes
    second = publish(stack, CATALOG_KEY=KEY)

    gone = {m["message_id"] for m in stack.standin.messages() if m["deleted"]}
    assert not gone & set(range(1, 11)), f"messages the forger named were deleted: {gone}"
    assert forged not in gone  # not the worker's message: not the worker's to delete
    assert first["head_message_id"] in gone  # the catalog the worker replaced, recorded by it
    assert second["removed"] == int(str(first["parts"])) + 1
    with stack.database.engine.connect() as conn:
        parts = conn.execute(
            text("SELECT file_id, sha256 FROM control_plane.backup_parts ORDER BY message_id")
        ).all()
    assert len(parts) == sum(int(str(row["part_count"])) for row in made)
    with TelegramClient(TOKEN, stack.standin.url) as client:
        for part in parts:
            sink = io.BytesIO()
            client.download_file(part.file_id, sink)
            assert hashlib.sha256(sink.getvalue()).hexdigest() == part.sha256


def published(stack: Stack, **env: str) -> None:
    """One backup, its worker stopped, and the catalog published with `env`."""
    worker = stack.start_worker(BACKUP_PART_SIZE=PART_SIZE)
    make_backup(stack, stack.source_db, "proj-chat")
    worker.stop()
    publish(stack, **env)


@pytest.mark.timeout(300)
def test_recover_refuses_a_catalog_signed_with_another_key(
    stack: Stack, lost_and_rebuilt: Database
) -> None:
    published(stack, CATALOG_KEY=OTHER_KEY)
    code, said = recover(stack, lost_and_rebuilt, CATALOG_KEY=KEY)
    assert code != 0
    assert "CATALOG_KEY" in said, said
    assert "cannot be authenticated" in said, said
    assert backups_in(lost_and_rebuilt) == 0


@pytest.mark.timeout(300)
def test_recover_refuses_without_a_key(stack: Stack, lost_and_rebuilt: Database) -> None:
    published(stack, CATALOG_KEY=KEY)
    code, said = recover(stack, lost_and_rebuilt)
    assert code != 0
    assert "CATALOG_KEY" in said, said
    assert backups_in(lost_and_rebuilt) == 0


@pytest.mark.timeout(300)
def test_recover_refuses_an_unencrypted_catalog_when_recipients_are_set(
    stack: Stack, lost_and_rebuilt: Database, tmp_path: Path
) -> None:
    published(stack, CATALOG_KEY=KEY)  # no BACKUP_AGE_RECIPIENTS: a plain catalog
    key = pyrage.x25519.Identity.generate()
    identity = tmp_path / "age.key"
    identity.write_text(f"{key}\n")
    recipient = str(key.to_public())
    code, said = recover(
        stack,
        lost_and_rebuilt,
        CATALOG_KEY=KEY,
        BACKUP_AGE_RECIPIENTS=recipient,
        BACKUP_AGE_IDENTITY_FILE=str(identity),
    )
    assert code != 0
    assert "not encrypted" in said, said
    assert "BACKUP_AGE_RECIPIENTS" in said, said
    assert backups_in(lost_and_rebuilt) == 0


@pytest.mark.timeout(300)
def test_recover_refuses_a_head_a_member_pinned_even_a_copy_of_the_real_one(
    stack: Stack, lost_and_rebuilt: Database
) -> None:
    published(stack, CATALOG_KEY=KEY)
    with TelegramClient(TOKEN, stack.standin.url) as client:
        real = pins.pinned_document(client, CHAT)
        assert real is not None
        sink = io.BytesIO()
        client.download_file(real.file_id, sink)
    stack.standin.member_posts(int(CHAT), sink.getvalue(), real.file_name or HEAD_NAME)
    code, said = recover(stack, lost_and_rebuilt, CATALOG_KEY=KEY)
    assert code != 0
    assert "not sent by" in said, said
    assert backups_in(lost_and_rebuilt) == 0


@pytest.mark.timeout(300)
def test_recover_refuses_an_unsigned_catalog_even_from_the_bot(
    stack: Stack, lost_and_rebuilt: Database, tmp_path: Path
) -> None:
    """A head in the old unsigned format, sent and pinned by the bot itself (an older worker,
    or anyone who held the token), listing a catalog whose rows the forger chose."""
    published(stack, CATALOG_KEY=KEY)
    with stack.database.sessionmaker() as session:
        catalog = document.build(session)
    backups = catalog["backups"]
    assert isinstance(backups, list)
    backups[0]["project_id"] = "proj-of-the-forger"
    artifact = stream.write_artifact(
        io.BytesIO(document.dumps(catalog)), tmp_path, "forged.json.zst", part_size=65536
    )
    with TelegramClient(TOKEN, stack.standin.url) as client:
        sent = [client.send_document(CHAT, part.path) for part in artifact.parts]
        parts: list[dict[str, object]] = [
            {"index": p.index, "file_id": d.file_id, "size_bytes": p.size_bytes, "sha256": p.sha256}
            for p, d in zip(artifact.parts, sent, strict=True)
        ]
        body = json.loads(forged_head([d.message_id for d in sent], parts))
        body.update(size_bytes=artifact.size_bytes, sha256=artifact.sha256)
        head = tmp_path / HEAD_NAME
        head.write_text(json.dumps(body))
        pins.pin(client, CHAT, client.send_document(CHAT, head).message_id)
    code, said = recover(stack, lost_and_rebuilt, CATALOG_KEY=KEY)
    assert code != 0
    assert "not signed" in said, said
    assert backups_in(lost_and_rebuilt) == 0


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"waited {timeout} s for {what}")


def published_runs(log: str) -> list[str]:
    """The worker's log lines of catalog.publish runs that ended (and did not fail)."""
    return [line for line in log.splitlines() if "catalog.publish[" in line and "succeeded" in line]


def catalog_heads(stack: Stack) -> list[dict[str, object]]:
    """The catalog heads the bot sent (not deleted), oldest first."""
    return [
        m
        for m in stack.standin.messages()
        if str(m["file_name"] or "").startswith("backup-worker-catalog-")
        and m["member_id"] is None
        and not m["deleted"]
    ]


@pytest.mark.timeout(300)
def test_beat_publishes_only_with_a_key_and_never_deletes_what_a_member_names(
    stack: Stack,
) -> None:
    # Without CATALOG_KEY: beat's catalog.publish runs every second and sends nothing, and the
    # worker says why once, not at every run.
    worker = stack.start_worker(BACKUP_PART_SIZE=PART_SIZE)
    make_backup(stack, stack.source_db, "proj-beat")
    beat = stack.start_beat("-s", str(stack.tmp / "beat-a"), CATALOG_INTERVAL="1")
    wait_for(lambda: len(published_runs(worker.log())) >= 3, 60, "three catalog.publish runs")
    beat.kill()
    worker.stop()
    assert catalog_heads(stack) == []
    warnings = [line for line in worker.log().splitlines() if "WARNING" in line]
    assert [w for w in warnings if "CATALOG_KEY is not set" in w] != []
    assert len([w for w in warnings if "CATALOG_KEY is not set" in w]) == 1, warnings
    assert all("'status': 'skipped'" in run for run in published_runs(worker.log()))

    # With it: a member's forged head listing messages 1-10 is pinned over the catalog, then the
    # catalog changes; beat publishes and replaces its own catalog, and nothing else.
    stack.start_worker(BACKUP_PART_SIZE=PART_SIZE, CATALOG_KEY=KEY)
    stack.start_beat("-s", str(stack.tmp / "beat-b"), CATALOG_INTERVAL="1", CATALOG_KEY=KEY)
    wait_for(lambda: len(catalog_heads(stack)) == 1, 60, "a catalog")
    [first] = catalog_heads(stack)
    stack.standin.member_posts(int(CHAT), forged_head(list(range(1, 11))), HEAD_NAME)
    make_backup(stack, stack.source_db, "proj-beat-2")
    wait_for(lambda: first not in catalog_heads(stack), 60, "the catalog replaced")
    # The ids 1-10 hold the backups' parts and, here, the worker's own first catalog: only the
    # latter may go.
    messages = stack.standin.messages()
    gone = [m for m in messages if m["deleted"]]
    assert gone != []
    assert all(m["member_id"] is None for m in gone), gone
    assert all(str(m["caption"]).startswith("backup-worker catalog") for m in gone), gone
    with stack.database.engine.connect() as conn:
        parts = set(
            conn.execute(text("SELECT message_id FROM control_plane.backup_parts")).scalars()
        )
    assert parts
    assert not parts & {m["message_id"] for m in gone}
    with TelegramClient(TOKEN, stack.standin.url) as client:
        pinned = pins.pinned(client, CHAT)
    assert pinned is not None
    assert pinned.sender_is_bot
