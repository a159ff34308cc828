"""Fleet-scale Telegram: real workers share the pacer's budgets in Redis (docs/fleet.md).

The stand-in enforces Telegram's own limits (standin.limits.TELEGRAM: 1 message per second per
chat, 20 per minute per group, 30 per second per bot) and refuses a file_id to any bot but the
one that uploaded it. Workers that run at once get node names of their own (-n), as two hosts
would have.
"""

from __future__ import annotations

import collections
import itertools
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from standin import limits
from standin.server import BotApiStandin
from tests.acceptance.conftest import Stack
from tests.acceptance.restore.support import (
    PART_SIZE,
    backup_row,
    new_target,
    send_restore,
    send_verify,
    targets,
)
from worker.contract import publish, tasks
from worker.jobs import intake

__all__ = ["targets"]  # a fixture, used by name

TOKENS = (
    "700001:FLEET-one-secret-ABCdefGHIjklMNOpqrSTUvwxyz",
    "700002:FLEET-two-secret-ZYXwvuTSRqpoNMLkjiHGFedcba",
)
CHATS = ("-1007000000001", "-1007000000002")
MARGIN = "0.3"  # seconds: the parts here are small, their upload times hardly differ
WAIT = 180  # seconds a job may take here: the budgets make the fleet wait


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[BotApiStandin]:
    """A stand-in with two bots in two groups, enforcing Telegram's limits."""
    with BotApiStandin(
        tokens=list(TOKENS),
        chats=[int(chat) for chat in CHATS],
        limits=limits.TELEGRAM,
        data_dir=tmp_path / "fleet-standin",
    ) as server:
        yield server


def _env(fleet: BotApiStandin, tokens: tuple[str, ...], chats: tuple[str, ...]) -> dict[str, str]:
    return {
        "TELEGRAM_API_URL": fleet.url,
        "TELEGRAM_BOT_TOKEN": ",".join(tokens),
        "TELEGRAM_CHAT_ID": ",".join(chats),
        "TELEGRAM_PACER_MARGIN": MARGIN,
    }


def _sends(fleet: BotApiStandin) -> list[dict[str, object]]:
    return [dict(entry) for entry in fleet.requests("sendDocument")]


def _node(name: str) -> str:
    """A node name of its own for a worker, as `-n name@%h` would give it."""
    return f"{name}-{uuid.uuid4().hex[:6]}@{socket.gethostname()}"


def _backups_on(stack: Stack, nodes: tuple[str, ...], count: int, project: str) -> list[str]:
    """`count` backups, dealt in turn to each node's own queue (`<node>.dq2`).

    The gateway's queue gives a request to whichever worker fetches first: on a loaded machine
    one worker can take them all, and a test about two workers sharing a chat then has one.
    """
    job_ids = []
    for n in range(count):
        publisher = publish.Publisher(stack.client.send_task, queue=f"{nodes[n % len(nodes)]}.dq2")
        message = tasks.CreateBackup.from_kwargs(
            {"project_id": f"{project}-{n}", "database": stack.source_db}
        )
        job_ids.append(str(intake.job_id_for_task(publisher.send(message))))
    return job_ids


def _completed(stack: Stack, job_ids: list[str]) -> set[str]:
    hosts = set()
    for job_id in job_ids:
        row = stack.wait_job(job_id, timeout=WAIT)
        assert row["status"] == "completed", row["error"]
        hosts.add(str(row["worker_hostname"]))
    return hosts


def test_two_workers_never_exceed_a_chats_budget_together(
    stack: Stack, fleet: BotApiStandin
) -> None:
    env = _env(fleet, TOKENS[:1], CHATS[:1])
    nodes = (_node("fleet1"), _node("fleet2"))
    for node in nodes:
        stack.start_worker("--concurrency=2", "-n", node, **env)
    hosts = _completed(stack, _backups_on(stack, nodes, 8, "proj-budget"))
    assert hosts == set(nodes)  # both workers sent into the one chat
    sends = _sends(fleet)
    assert [entry["status"] for entry in sends] == [200] * 8
    # A message counts when its body has arrived (the arrival gate starts an upload before its
    # slot and holds its last block), so the gaps are between arrivals, not request starts.
    arrivals = sorted(float(str(send["time"])) for send in fleet.sends())
    assert len(arrivals) == 8
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert min(gaps) >= 1.0, gaps  # 1 message per second in one chat, fleet-wide


def test_a_429_seen_by_one_worker_pauses_the_other_in_that_chat(
    stack: Stack, fleet: BotApiStandin
) -> None:
    env = _env(fleet, TOKENS[:1], CHATS[:1])
    nodes = (_node("fleet3"), _node("fleet4"))
    for node in nodes:
        stack.start_worker("--concurrency=1", "-n", node, **env)
    fleet.set_faults(["429:4"], methods=["sendDocument"])
    job_ids = _backups_on(stack, nodes, 4, "proj-closure")
    # While parts wait out the closure, their jobs' rows say so.
    notes: set[str] = set()
    deadline = time.monotonic() + 30
    while not notes and time.monotonic() < deadline:
        with stack.database.engine.connect() as conn:
            notes = set(
                conn.execute(
                    text(
                        "SELECT result->>'waiting' FROM control_plane.jobs"
                        " WHERE result->>'waiting' IS NOT NULL"
                    )
                ).scalars()
            )
        time.sleep(0.05)
    assert any("for Telegram's rate limit" in note for note in notes), notes
    hosts = _completed(stack, job_ids)
    assert hosts == set(nodes)
    sends = _sends(fleet)
    refused = [entry for entry in sends if entry["status"] == 429]
    assert len(refused) == 1  # the injected one: nobody ran into the closure
    closed_at = float(str(refused[0]["time"])) + float(str(refused[0]["duration"]))
    # When Telegram counted each message (its body's arrival): the arrival gate starts an upload
    # before its slot, so one that started after the refused one may have arrived before it.
    # Once the refusal is answered, nothing arrives in that chat until the closure ends.
    counted = sorted(float(str(send["time"])) for send in fleet.sends())
    assert len(counted) == 4  # the refused part again, and the three others
    during = [at for at in counted if closed_at < at < closed_at + 4 - 0.05]
    assert not during, (closed_at, counted)
    assert max(counted) >= closed_at + 4 - 0.05  # the refused part, sent again after it


def _parts(stack: Stack, backup_id: str) -> list[tuple[str | None, str]]:
    with stack.database.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT bot_id, chat_id FROM control_plane.backup_parts"
                " WHERE backup_id = :id ORDER BY index"
            ),
            {"id": backup_id},
        ).all()
    return [(row[0], row[1]) for row in rows]


def _finished(stack: Stack, job_id: str) -> dict[str, object]:
    row = stack.wait_job(job_id, timeout=WAIT)
    assert row is not None
    return row


def test_a_backup_spread_over_two_bots_and_two_chats_restores_with_each_parts_own_bot(
    stack: Stack, fleet: BotApiStandin, targets: list[str]
) -> None:
    env = _env(fleet, TOKENS, CHATS) | {"BACKUP_PART_SIZE": PART_SIZE}
    worker = stack.start_worker("--concurrency=2", "-n", f"fleet5-{uuid.uuid4().hex[:6]}@%h", **env)
    job_id = stack.send(project_id="proj-spread", database=stack.source_db)
    row = _finished(stack, job_id)
    assert row["status"] == "completed", row["error"]
    backup_id = str(backup_row(stack, "job_id", job_id)["id"])
    parts = _parts(stack, backup_id)
    assert len(parts) >= 4
    assert {bot for bot, _ in parts} == {"700001", "700002"}
    assert {chat for _, chat in parts} == set(CHATS)

    restored = _finished(
        stack, send_restore(stack, backup_id=backup_id, target_database=new_target(targets))
    )
    assert restored["status"] == "completed", restored["error"]
    verified = _finished(stack, send_verify(stack, backup_id=backup_id))
    assert verified["status"] == "completed", verified["error"]
    # The stand-in refuses a foreign file_id: each getFile went through the part's own bot.
    fetches = fleet.requests("getFile")
    assert {entry["status"] for entry in fetches} == {200}
    assert collections.Counter(entry["bot_id"] for entry in fetches) == collections.Counter(
        int(str(bot)) for bot, _ in parts * 2
    )

    # A chat retired: new parts avoid it; its old parts still verify, and expire.
    worker.stop()
    retired = env | {"TELEGRAM_RETIRED_CHAT_IDS": CHATS[1]}
    worker = stack.start_worker(
        "--concurrency=2", "-n", f"fleet6-{uuid.uuid4().hex[:6]}@%h", **retired
    )
    # The same project: the sweep never expires a project's newest backup.
    newer = stack.send(project_id="proj-spread", database=stack.source_db)
    assert _finished(stack, newer)["status"] == "completed"
    newer_parts = _parts(stack, str(backup_row(stack, "job_id", newer)["id"]))
    assert len(newer_parts) >= 4
    assert {chat for _, chat in newer_parts} == {CHATS[0]}
    assert _finished(stack, send_verify(stack, backup_id=backup_id))["status"] == "completed"
    _expire_and_sweep(stack, backup_id)
    # Each message deleted by the bot that sent it, in its own chat.
    deletes = fleet.requests("deleteMessage")
    assert {entry["status"] for entry in deletes} == {200}
    assert sorted((int(str(e["bot_id"])), int(str(e["chat_id"]))) for e in deletes) == sorted(
        (int(str(bot)), int(chat)) for bot, chat in parts
    )

    # Its second bot no longer configured: the restore fails before any download, naming it.
    worker.stop()
    one_bot = _env(fleet, TOKENS[:1], CHATS)
    worker = stack.start_worker(
        "--concurrency=1", "-n", f"fleet7-{uuid.uuid4().hex[:6]}@%h", **one_bot
    )
    unreachable = new_target(targets)
    refused = _finished(
        stack,
        send_restore(
            stack,
            backup_id=str(backup_row(stack, "job_id", newer)["id"]),
            target_database=unreachable,
        ),
    )
    assert refused["status"] == "failed"
    assert "bot 700002 is not configured" in str(refused["error"])

    # No token anywhere: rows, captions, the worker's log.
    secrets = [token.partition(":")[2] for token in TOKENS]
    with stack.database.engine.connect() as conn:
        dumped = " ".join(
            str(value)
            for table in ("jobs", "backups", "backup_parts")
            for value in conn.execute(
                text(f"SELECT t::text FROM control_plane.{table} t")
            ).scalars()
        )
    captions = " ".join(str(m.get("caption")) for m in fleet.messages())
    logs = " ".join(w.log() for w in stack.workers)
    for secret in secrets:
        assert secret not in dumped
        assert secret not in captions
        assert secret not in logs


def _expire_and_sweep(stack: Stack, backup_id: str) -> None:
    with stack.database.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE control_plane.backups SET expires_at = now() - interval '1 day'"
                " WHERE id = :id"
            ),
            {"id": backup_id},
        )
    stack.publisher.send(tasks.SweepExpired(), task_id=str(uuid.uuid4()))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if backup_row(stack, "id", backup_id)["status"] == "deleted":
            return
        time.sleep(0.2)
    raise AssertionError(f"backup {backup_id} was not swept: {backup_row(stack, 'id', backup_id)}")
