"""Orphaned part messages: sent by a job, held by no recorded backup, found and deleted."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select, text, update

from db import ledger
from db.queries import jobs as db_jobs
from tests.integration.scheduling.test_sweep import CHAT, OLD, Chat, chat, rt
from worker.jobs import runtime
from worker.scheduling import orphans, sweep

__all__ = ["chat", "rt"]


def job(rt: runtime.Runtime, status: str) -> uuid.UUID:
    job_id = uuid.uuid4()
    with rt.database.transaction() as s:
        db_jobs.create_job(
            s, job_id=job_id, type="backup", project_id="proj-o", payload={}, celery_task_id=None
        )
        s.execute(
            text("UPDATE control_plane.jobs SET status = :s WHERE id = :id"),
            {"s": status, "id": job_id},
        )
    return job_id


def sent(chat: Chat, rt: runtime.Runtime, job_id: uuid.UUID, *, minutes_ago: int = 10) -> int:
    """One part message sent for `job_id` and noted in the ledger, `minutes_ago` old there."""
    path = chat.tmp / f"orphan-{uuid.uuid4().hex}"
    path.write_bytes(b"a part nobody recorded")
    message = chat.client.send_document(CHAT, path, filename=path.name)
    with rt.database.transaction() as s:
        ledger.record(s, job_id, str(CHAT), message.message_id)
        s.execute(
            update(ledger.SentMessage)
            .where(ledger.SentMessage.message_id == message.message_id)
            .values(sent_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_ago))
        )
    return message.message_id


def states(rt: runtime.Runtime) -> dict[int, str]:
    with rt.database.transaction() as s:
        rows = s.execute(select(ledger.SentMessage.message_id, ledger.SentMessage.state)).all()
    return {int(message): str(state) for message, state in rows}


def test_orphans_of_ended_jobs_are_deleted_recorded_parts_kept_running_jobs_left_alone(
    chat: Chat, rt: runtime.Runtime
) -> None:
    failed, running = job(rt, "failed"), job(rt, "running")
    orphan = sent(chat, rt, failed)
    young = sent(chat, rt, failed, minutes_ago=1)  # within the grace: may still be recorded
    in_flight = sent(chat, rt, running)
    completed = job(rt, "completed")
    backup_id = chat.backup(job_id=completed)
    with rt.database.transaction() as s:
        for part in chat.parts(backup_id):
            ledger.record(s, completed, part.chat_id, part.message_id)
        s.execute(
            text(
                "UPDATE control_plane.sent_messages SET sent_at = now() - interval '1 hour'"
                " WHERE message_id <> :young"
            ),
            {"young": young},
        )
    kept = {part.message_id for part in chat.parts(backup_id)}
    # The running job's message would be an orphan too, were its job not still running.
    result = orphans.sweep(rt, rt.telegram)
    assert (result.kept, result.deleted, result.undeletable) == (2, 1, 0)
    assert chat.deleted_messages() == {orphan}
    assert states(rt) == {
        orphan: "deleted",
        young: "sent",
        in_flight: "sent",
        **dict.fromkeys(kept, "kept"),
    }
    again = orphans.sweep(rt, rt.telegram)
    assert (again.kept, again.deleted) == (0, 0)  # settled once, never again


def test_an_orphan_past_48_hours_is_counted_undeletable_and_the_sweep_reports_orphans(
    chat: Chat, rt: runtime.Runtime
) -> None:
    failed = job(rt, "failed")
    old = sent(chat, rt, failed, minutes_ago=49 * 60)
    chat.standin.age_message(CHAT, old, OLD)
    already_gone = sent(chat, rt, failed)
    chat.client.delete_message(CHAT, already_gone)  # what the failing job did itself
    result = sweep.sweep(rt)
    assert (result.orphans_deleted, result.orphans_undeletable) == (1, 1)
    assert states(rt) == {old: "undeletable", already_gone: "deleted"}
