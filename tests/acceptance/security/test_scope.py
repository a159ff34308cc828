"""Every request is scoped to a project: tried as another project's owner (or a buggy gateway)
would, with real workers, PostgreSQL and the Bot API stand-in (issue #20, item 2)."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid

import psycopg2
import pytest
from sqlalchemy import text

from tests.acceptance.conftest import Stack
from tests.acceptance.restore.support import backup_row, make_backup, targets  # noqa: F401
from tests.support.sources import database_exists, make_source_database
from tests.support.stack import job_row
from worker.contract import tasks
from worker.jobs import intake

A, B = "proj-a", "proj-b"


def finished(stack: Stack, job_id: str, timeout: float = 90) -> dict[str, object]:
    return stack.wait_job(job_id, timeout=timeout)


def restore(stack: Stack, project: str, backup_id: object, target: str | None, **kw: object) -> str:
    message = tasks.RestoreBackup(project, uuid.UUID(str(backup_id)), target, **kw)  # type: ignore[arg-type]
    return stack.publish(message)


def gateway_row(stack: Stack, job_type: str, project: str) -> uuid.UUID:
    """A pending row as the api-gateway inserts it before it enqueues."""
    return intake.insert_pending(stack.runtime, job_type=job_type, project_id=project, payload={})


def rows(database: str) -> object:
    conn = psycopg2.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={database}")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM items")
            found = cur.fetchone()
            return None if found is None else found[0]
    finally:
        conn.close()


@pytest.mark.timeout(300)
def test_a_backup_is_restored_only_into_a_database_its_project_owns(
    stack: Stack,
    targets: list[str],  # noqa: F811
) -> None:
    stack.start_worker(RESTORE_TARGET_NAMES="{database}_*")  # the default
    backup = make_backup(stack, stack.source_db, project=A)
    victim = f"bw_victim_{uuid.uuid4().hex[:8]}"
    targets.append(victim)
    make_source_database(victim, rows=7)
    # Project B asks for A's backup: refused, whatever the target.
    other = finished(stack, restore(stack, B, backup["id"], victim, clean=True))
    assert other["status"] == "failed"
    assert f"does not belong to project {B}" in str(other["error"]), other["error"]
    # Project A asks for its own backup, into B's existing database: refused, clean or not.
    into = finished(stack, restore(stack, A, backup["id"], victim, clean=True))
    assert into["status"] == "failed"
    assert "not a restore target of project" in str(into["error"]), into["error"]
    assert rows(victim) == 7  # B untouched
    # A new database whose name the rule allows: restored; again with clean, since A's own
    # earlier restore created it.
    copy = f"{stack.source_db}_copy_{uuid.uuid4().hex[:6]}"
    targets.append(copy)
    first = finished(stack, restore(stack, A, backup["id"], copy))
    assert first["status"] == "completed", first["error"]
    again = finished(stack, restore(stack, A, backup["id"], copy, clean=True))
    assert again["status"] == "completed", again["error"]
    # ...but B's backup cannot go into the copy A's restore made.
    backup_b = make_backup(stack, stack.source_db, project=B)
    theirs = finished(stack, restore(stack, B, backup_b["id"], copy, clean=True))
    assert theirs["status"] == "failed"
    assert "not a restore target of project" in str(theirs["error"]), theirs["error"]
    # A name the rule does not allow, even for a database that does not exist yet.
    stray = f"bw_stray_{uuid.uuid4().hex[:8]}"
    targets.append(stray)
    refused = finished(stack, restore(stack, A, backup["id"], stray))
    assert refused["status"] == "failed"
    assert "not a restore target of project" in str(refused["error"]), refused["error"]
    assert not database_exists(stray)
    # Verify and undo of another project's backup or job: refused.
    verify = finished(stack, stack.publish(tasks.VerifyBackup(B, uuid.UUID(str(backup["id"])))))
    assert verify["status"] == "failed"
    assert f"does not belong to project {B}" in str(verify["error"]), verify["error"]
    undo = finished(stack, stack.publish(tasks.UndoRestore(B, uuid.UUID(str(first["id"])))))
    assert undo["status"] == "failed"
    assert f"does not belong to project {B}" in str(undo["error"]), undo["error"]


@pytest.mark.timeout(180)
def test_mode_drill_from_outside_is_refused(stack: Stack) -> None:
    stack.start_worker()
    backup = make_backup(stack, stack.source_db, project=A)
    scratch = f"{stack.source_db}__drill_{uuid.uuid4().hex[:8]}"
    plain = finished(stack, restore(stack, A, backup["id"], scratch, mode=tasks.MODE_DRILL))
    assert plain["status"] == "failed"
    assert "drill" in str(plain["error"]), plain["error"]
    assert "internal" in str(plain["error"]), plain["error"]
    # Not even with the job id of a pending restore row the gateway inserted.
    row = gateway_row(stack, "restore", A)
    given = restore(stack, A, backup["id"], scratch, mode=tasks.MODE_DRILL, job_id=row)
    assert "internal" in str(finished(stack, given)["error"])
    assert not database_exists(scratch)


@pytest.mark.timeout(180)
def test_a_job_id_is_claimed_only_by_a_message_of_its_type_and_project(stack: Stack) -> None:
    worker = stack.start_worker()
    backup = make_backup(stack, stack.source_db, project=A)
    pending_restore = gateway_row(stack, "restore", B)
    pending_backup = gateway_row(stack, "backup", B)
    running = gateway_row(stack, "backup", A)
    with stack.database.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE control_plane.jobs SET status = 'running', worker_hostname = 'elsewhere',"
                " attempts = 1, started_at = now(), heartbeat_at = now() WHERE id = :id"
            ),
            {"id": running},
        )
    before = {
        jid: job_row(stack.database, jid) for jid in (pending_restore, pending_backup, running)
    }
    sent = [
        # A backup of project A under B's pending restore row, and under B's pending backup row.
        stack.publisher.send_raw(
            tasks.CREATE, {"project_id": A, "database": stack.source_db, "job_id": str(jid)}
        )
        for jid in (pending_restore, pending_backup)
    ]
    # A bad backups.create under a running backup's id: the old `reject` failed it mid-dump.
    sent.append(
        stack.publisher.send_raw(
            tasks.CREATE, {"project_id": A, "database": "x" * 64, "job_id": str(running)}
        )
    )
    # A restore of A's backup under B's pending restore row.
    copy = f"{stack.source_db}_x_{uuid.uuid4().hex[:6]}"
    sent.append(restore(stack, A, backup["id"], copy, job_id=pending_restore))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if all(task in worker.log() for task in sent[:3]) and "refused" in worker.log():
            break
        time.sleep(0.2)
    time.sleep(3)  # a wrong claim would show by now
    for jid, row in before.items():
        assert job_row(stack.database, jid) == row, jid
    assert not database_exists(copy)
    assert worker.log().count("refused") >= 4, worker.log()[-3000:]


@pytest.mark.timeout(120)
def test_an_unknown_argument_fails_the_row_naming_it(stack: Stack) -> None:
    stack.start_worker()
    row = gateway_row(stack, "backup", A)
    stack.publisher.send_raw(
        tasks.CREATE,
        {"project_id": A, "database": stack.source_db, "job_id": str(row), "priority": "high"},
    )
    done = finished(stack, str(row), timeout=30)
    assert done["status"] == "failed"
    assert "priority" in str(done["error"]), done["error"]
    task = stack.publisher.send_raw(
        tasks.VERIFY, {"project_id": A, "backup_id": str(uuid.uuid4()), "priority": "high"}
    )
    verify = finished(stack, str(intake.job_id_for_task(task)), timeout=30)
    assert "priority" in str(verify["error"]), verify["error"]


@pytest.mark.timeout(120)
def test_a_pending_row_no_message_claims_ages_out_with_a_reason(stack: Stack) -> None:
    row = gateway_row(stack, "restore", A)
    with stack.database.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE control_plane.jobs SET created_at = now() - interval '2 hours'"
                " WHERE id = :id"
            ),
            {"id": row},
        )
    stack.start_worker(JOB_PENDING_TIMEOUT="3600")
    stack.publisher.send(tasks.ReapJobs())
    done = finished(stack, str(row), timeout=30)
    assert done["status"] == "failed"
    assert "no message claimed it" in str(done["error"]), done["error"]


def _post_text(stack: Stack, words: str) -> int:
    """A message the worker never sent (posted by someone else with the bot's token)."""
    body = json.dumps({"chat_id": stack.chat, "text": words}).encode()
    url = f"{stack.standin.url}/bot{stack.token}/sendMessage"
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(req, timeout=10) as answer:  # noqa: S310 - the local stand-in
        return int(json.load(answer)["result"]["message_id"])


def _expire_and_sweep(stack: Stack, project: str) -> None:
    with stack.database.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE control_plane.backups SET expires_at = now() - interval '1 day'"
                " WHERE project_id = :project"
            ),
            {"project": project},
        )
    stack.publisher.send(tasks.SweepExpired())
    time.sleep(5)


def _deleted(stack: Stack, message_id: int) -> bool:
    found = [m for m in stack.standin.messages() if m["message_id"] == message_id]
    assert found, message_id
    return bool(found[0]["deleted"])


@pytest.mark.timeout(180)
def test_register_never_leads_to_deleting_a_message_the_worker_did_not_send(
    stack: Stack,
) -> None:
    stack.start_worker()
    theirs = make_backup(stack, stack.source_db, project=B)
    with stack.database.engine.connect() as conn:
        part = dict(
            conn.execute(
                text("SELECT * FROM control_plane.backup_parts WHERE backup_id = :id LIMIT 1"),
                {"id": theirs["id"]},
            )
            .mappings()
            .one()
        )
    spec = {
        "file_id": part["file_id"],
        "size_bytes": part["size_bytes"],
        "sha256": part["sha256"],
    }
    # Project A registers B's part message as its own: refused.
    stack.publisher.send_raw(
        tasks.REGISTER,
        {
            "project_id": A,
            "filename": "stolen.bin",
            "parts": [{**spec, "message_id": part["message_id"], "chat_id": part["chat_id"]}],
            "expires_in_days": 1,
        },
    )
    # ...and a message nobody's backup records, which the worker did not send: recorded, but
    # only ever forgotten.
    foreign = _post_text(stack, "the gateway's own message")
    stack.publisher.send_raw(
        tasks.REGISTER,
        {
            "project_id": A,
            "filename": "foreign.bin",
            "parts": [{**spec, "message_id": foreign}],
            "expires_in_days": 1,
        },
    )
    time.sleep(5)
    with stack.database.engine.connect() as conn:
        names = set(
            conn.execute(
                text("SELECT filename FROM control_plane.backups WHERE project_id = :p"), {"p": A}
            ).scalars()
        )
    assert names == {"foreign.bin"}, names
    _expire_and_sweep(stack, A)
    assert not _deleted(stack, int(str(part["message_id"])))
    assert not _deleted(stack, foreign)
    assert backup_row(stack, "id", theirs["id"])["status"] == "active"
