"""The parts a backup job has sent so far, kept in its jobs row: the upload's resume point."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping

from db import jobs as db_jobs
from db import ledger, models
from worker.backup import upload
from worker.jobs import owner, retry, state
from worker.jobs.runtime import Runtime


def destination(job: models.Job) -> upload.Destination:
    """Where the job's parts go: its chat (or the one Telegram migrated it to), its caption."""
    payload = state.BackupPayload.of(job)
    return upload.Destination(
        chat_id=state.BackupState.of(job).chat_id or payload.chat_id,
        thread_id=payload.thread_id,
        project_id=payload.request.project_id,
        label=payload.request.database,
        caption=payload.request.caption,
    )


class Sent:
    """Parts sent so far, written into the jobs row as each one is sent (the upload's resume
    point), each time after checking that this attempt still owns the job."""

    def __init__(
        self,
        rt: Runtime,
        job_id: uuid.UUID,
        hostname: str,
        attempt: int,
        where: upload.Destination,
        parts: Mapping[str, upload.SentPartJSON],
    ) -> None:
        self._rt = rt
        self._job_id = job_id
        self._hostname = hostname
        self._attempt = attempt
        self.where = where
        # jsonb || is shallow: the whole map of sent parts is written back each time.
        self.parts = dict(parts)

    @classmethod
    def of(cls, rt: Runtime, job: models.Job, hostname: str) -> Sent:
        """The parts the jobs row says were sent, for the job's current attempt."""
        parts = state.BackupState.of(job).uploaded
        return cls(rt, job.id, hostname, job.attempts, destination(job), parts)

    def add(
        self,
        part: upload.SentPartJSON,
        migrated_to: int | None,
        *,
        stage: tuple[str, int] | None = None,
    ) -> None:
        """Remember a sent part; `stage` (name, progress) goes into the same transaction."""
        self.parts[str(part["index"])] = part
        patch = state.BackupPatch(uploaded=self.parts)
        if migrated_to is not None:
            self.where = dataclasses.replace(self.where, chat_id=str(migrated_to))
            patch["chat_id"] = str(migrated_to)
        try:
            with self._rt.database.transaction() as session:
                owner.still_ours(session, self._job_id, self._hostname, self._attempt)
                state.save(session, self._job_id, patch)
                ledger.record(session, self._job_id, str(part["chat_id"]), int(part["message_id"]))
                if stage is not None:
                    db_jobs.set_progress(session, self._job_id, stage=stage[0], progress=stage[1])
        except retry.CONTROL_PLANE_LOST:
            # Sent but written nowhere: nobody could ever find this message again, so it goes
            # now, while Telegram is known to answer; the step runs again and sends it anew.
            del self.parts[str(part["index"])]
            owner.delete_sent_parts(self._rt, {"unrecorded": part})
            raise
