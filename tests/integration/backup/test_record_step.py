"""The record step of an earlier chain, run while a newer attempt of the job is under way.

Steps carry only the job id: when a job is started again on the same host (the reaper, a
redelivered dump), a record step still queued from the first chain can run after the new dump
and before the new upload. It must neither fail the job nor record a backup with parts missing.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from db import models, session
from db.queries import jobs as db_jobs
from worker import errors, settings
from worker.artifact import manifest
from worker.backup import ending, recording
from worker.jobs import runner
from worker.jobs.runtime import Runtime

HOST = "w1@host-a"
CHAT = "-1007777777777"
SHA = "ab" * 32


def _job_with_one_of_two_parts_sent(rt: Runtime, tmp_path: Path) -> uuid.UUID:
    job_id = uuid.uuid4()
    artifact = manifest.Artifact(
        filename="a.pgdump.zst",
        compression="zstd",
        encrypted=False,
        recipients=(),
        size_bytes=20,
        sha256=SHA,
        raw_bytes=40,
        parts=tuple(manifest.PartFile(i, tmp_path / f"a.{i + 1:03d}", 10, SHA) for i in range(2)),
    ).to_json()
    sent = {"chat_id": CHAT, "message_id": 1, "file_id": "f0", "file_unique_id": "u0"}
    with rt.database.transaction() as s:
        db_jobs.create_job(
            s,
            job_id=job_id,
            type="backup",
            project_id="proj-1",
            payload={"project_id": "proj-1", "database": "app", "chat_id": CHAT},
            celery_task_id=None,
        )
        s.execute(
            update(models.Job)
            .where(models.Job.id == job_id)
            .values(
                status="running",
                attempts=2,
                worker_hostname=HOST,
                stage="dump",
                progress=50,
                result={
                    "artifact": artifact,
                    "uploaded": {"0": {**sent, "index": 0, "size_bytes": 10, "sha256": SHA}},
                },
            )
        )
    return job_id


def test_a_stale_record_step_leaves_the_newer_attempt_alone(
    database: session.Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = settings.Settings(_env_file=None, backup_spool_dir=tmp_path / "spool")
    rt = Runtime(settings=config, database=database)
    monkeypatch.setattr("worker.jobs.runtime.current", lambda: rt)
    job_id = _job_with_one_of_two_parts_sent(rt, tmp_path)

    with pytest.raises(errors.AttemptSuperseded, match=r"parts \[2\] .* not uploaded yet"):
        recording.record_step(rt, job_id, hostname=HOST)
    # As the task runs it: the step stops quietly, the job is not failed.
    assert runner.run(
        str(job_id), lambda r, j: recording.record_step(r, j, hostname=HOST), ending.fail
    ) == str(job_id)

    with rt.database.transaction() as s:
        job = db_jobs.get_job(s, job_id)
        assert job is not None
        assert (job.status, job.error, job.attempts) == ("running", None, 2)
        count = s.scalar(
            select(func.count()).select_from(models.Backup).where(models.Backup.job_id == job_id)
        )
    assert count == 0
