"""The publisher: typed messages in, send_task calls with the gateway's keyword arguments out."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from tests.support.fake_send import FakeSend
from worker.contract import publish, tasks

JOB = uuid.UUID("7d7c2e52-9f0e-4b8e-8d6e-1b1f4f7a0c11")
BACKUP = uuid.UUID("0b1f3c3e-6c8a-4a3e-9a57-3b2d5e0f9a21")


def test_a_message_travels_as_keyword_arguments_with_ids_as_strings() -> None:
    sent = FakeSend()
    task_id = sent.publisher().send(tasks.CreateBackup("proj-1", "sales", JOB, 7))
    [call] = sent.calls
    assert (call.name, call.args) == ("backups.create", None)
    assert call.kwargs == {
        "project_id": "proj-1",
        "database": "sales",
        "job_id": str(JOB),
        "expires_in_days": 7,
    }
    # The publisher picks the task id, so a job id derived from it is known at once.
    assert call.options == {"task_id": task_id}
    assert uuid.UUID(task_id)


def test_arguments_at_their_default_are_left_out() -> None:
    assert publish.kwargs_of(tasks.RestoreBackup("p", BACKUP, "copy")) == {
        "project_id": "p",
        "backup_id": str(BACKUP),
        "target_database": "copy",
    }
    assert publish.kwargs_of(tasks.RestoreBackup("p", BACKUP, "copy", clean=True))["clean"] is True
    assert publish.kwargs_of(tasks.Register("p", "f", [], compression="none")) == {
        "project_id": "p",
        "filename": "f",
        "parts": [],
        "compression": "none",
    }
    assert publish.kwargs_of(tasks.ReapJobs()) == {}


def test_options_countdown_task_id_and_expiry_reach_send_task() -> None:
    sent = FakeSend()
    publisher = sent.publisher(queue="q", ignore_result=True)
    publisher.send(tasks.VerifyBackup("p", BACKUP), countdown=45, task_id="t-1")
    publisher.send(tasks.ReapJobs(), expires=60)
    first, second = sent.calls
    assert first.options == {
        "queue": "q",
        "ignore_result": True,
        "countdown": 45,
        "task_id": "t-1",
    }
    assert (second.name, second.options["expires"]) == ("jobs.reap", 60)


def test_send_all_holds_one_producer_for_every_message() -> None:
    sent = FakeSend()
    opened: list[object] = []

    @contextlib.contextmanager
    def producer() -> Iterator[object]:
        handle = object()
        opened.append(handle)
        yield handle

    publisher = publish.Publisher(sent, producer=producer)
    ids = publisher.send_all(
        [
            publish.Delayed(tasks.CreateBackup("p", "a", JOB), 0.0),
            publish.Delayed(tasks.CreateBackup("p", "b"), 12.5),
        ]
    )
    assert len(ids) == 2
    assert len(opened) == 1
    assert [call.options.get("producer") for call in sent.calls] == opened * 2
    assert [call.options.get("countdown") for call in sent.calls] == [None, 12.5]


def test_send_raw_passes_what_it_is_given_unchecked() -> None:
    sent = FakeSend()
    sent.publisher().send_raw(tasks.CREATE, {"shell": "rm -rf /"}, args=("p",), task_id="t")
    [call] = sent.calls
    assert (call.name, call.args, call.kwargs) == ("backups.create", ["p"], {"shell": "rm -rf /"})
