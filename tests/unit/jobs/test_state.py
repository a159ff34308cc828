"""The typed job state reads what the jobs row holds, old rows and unknown keys included."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from db import models
from worker import errors
from worker.contract import tasks
from worker.jobs import state

JOB = uuid.UUID("7d7c2e52-9f0e-4b8e-8d6e-1b1f4f7a0c11")
PAYLOAD: dict[str, object] = {
    "project_id": "proj-1",
    "database": "app",
    "expires_in_days": 5,
    "caption": None,
    "filename": None,
    "chat_id": "-1001",
    "thread_id": 7,
}


def job(payload: object = None, result: object = None, type: str = "backup") -> models.Job:
    return models.Job(id=JOB, type=type, project_id="proj-1", payload=payload, result=result)


def test_a_backup_payload_reads_the_request_and_destination() -> None:
    read = state.BackupPayload.of(job(PAYLOAD | {"from_a_newer_worker": 1}))
    assert (read.request.project_id, read.request.expires_in_days) == ("proj-1", 5)
    assert (read.chat_id, read.thread_id) == ("-1001", 7)


def test_rerun_is_the_backups_create_of_the_same_job() -> None:
    assert state.BackupPayload.rerun(job(PAYLOAD)) == tasks.CreateBackup(
        "proj-1", "app", JOB, expires_in_days=5
    )
    # A gateway row without its arguments, or another kind of job: nothing to re-send.
    assert state.BackupPayload.rerun(job({"refused": True})) is None
    assert state.BackupPayload.rerun(job(PAYLOAD, type="restore")) is None


def test_an_empty_result_reads_as_defaults() -> None:
    for result in (None, {}, {"unknown": [1, 2]}, {"uploaded": "junk", "retry_at": "soon"}):
        read = state.BackupState.of(job(PAYLOAD, result))
        assert read == state.BackupState()
    assert not state.has_artifact(job(PAYLOAD, {"artifact": None}))
    with pytest.raises(errors.JobStateError, match="no dump yet"):
        state.BackupState().manifest(JOB)


def test_a_backup_result_is_read_back() -> None:
    due = dt.datetime(2025, 6, 1, 3, 0, tzinfo=dt.UTC)
    part = {"index": 0, "file_id": "f", "message_id": 9, "chat_id": "-1001"}
    read = state.BackupState.of(
        job(
            PAYLOAD,
            {
                "artifact": {"filename": "x"},
                "uploaded": {"0": part},
                "chat_id": "-1002",
                "spool_full_retries": 2,
                "retry_at": due.isoformat(),
            },
        )
    )
    assert (read.artifact, read.uploaded["0"]["file_id"]) == ({"filename": "x"}, "f")
    assert (read.chat_id, read.spool_full_retries, read.retry_at) == ("-1002", 2, due)


def test_a_restore_result_and_payload_are_read_back() -> None:
    backup = uuid.uuid4()
    checked = job({"backup_id": str(backup)}, {"artifact": {"path": "/s/a", "checked": True}})
    assert state.RestoreState.of(checked) == state.RestoreState(checked="/s/a")
    assert state.backup_id_of(checked) == backup
    assert state.RestoreState.of(job({}, {"target_created": True})).target_created
    assert state.backup_id_of(job({"backup_id": "not-a-uuid"})) is None
