"""The parts a backup job has sent so far, kept in its jobs row: the upload's resume point."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from db import ledger, models
from db.queries import jobs as db_jobs
from worker.backup import upload
from worker.jobs import owner, retry, state
from worker.jobs.runtime import Runtime
from worker.telegram import repositories

WAIT_NOTE_MIN = 3.0  # seconds: shorter waits for a slot leave the jobs row alone


def destination(job: models.Job, chats: tuple[str, ...] = ()) -> upload.Destination:
    """Where the job's parts go: its chat (or the one Telegram migrated it to), or any of
    `chats` (the configured ones, not retired), its caption."""
    payload = state.BackupPayload.of(job)
    return upload.Destination(
        chats=chats,
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
        *,
        repository: str | None = None,
        copies: Mapping[str, Mapping[str, upload.SentPartJSON]] | None = None,
    ) -> None:
        self._rt = rt
        self._job_id = job_id
        self._hostname = hostname
        self._attempt = attempt
        self.where = where
        # jsonb || is shallow: the whole map of sent parts is written back each time.
        self.parts = dict(parts)
        self._waiting = False
        # A further copy's parts go under copies[repository], the other copies' written back
        # unchanged (the jobs row keeps each key whole).
        self.repository = repository
        self._copies = {name: dict(sent) for name, sent in (copies or {}).items()}

    def note_wait(self, seconds: float) -> None:
        """Say in the jobs row that a part waits `seconds` for its slot in Telegram's rate
        limit. Short waits (most of them, at 1 message per second) are not written."""
        if seconds < WAIT_NOTE_MIN:
            return
        note = f"waiting {seconds:.0f} s for Telegram's rate limit (fleet-wide pacer)"
        with self._rt.database.transaction() as session:
            owner.still_ours(session, self._job_id, self._hostname, self._attempt)
            state.save(session, self._job_id, state.BackupPatch(waiting=note))
            db_jobs.heartbeat(session, self._job_id)
        self._waiting = True

    @classmethod
    def of(cls, rt: Runtime, job: models.Job, hostname: str) -> Sent:
        """The parts the jobs row says were sent, for the job's current attempt."""
        parts = state.BackupState.of(job).uploaded
        where = destination(job, rt.chat_ids())
        return cls(rt, job.id, hostname, job.attempts, where, parts)

    @classmethod
    def copy_of(
        cls, rt: Runtime, job: models.Job, hostname: str, repo: repositories.Repository
    ) -> Sent:
        """The parts of the copy in `repo` (not copy 0) the jobs row says were sent."""
        now = state.BackupState.of(job)
        payload = state.BackupPayload.of(job)
        where = upload.Destination(
            chats=repo.chat_ids,
            chat_id=repo.chat_ids[0],
            thread_id=repo.thread_id,
            project_id=payload.request.project_id,
            label=payload.request.database,
            caption=payload.request.caption,
        )
        parts = now.copies.get(repo.name, {})
        return cls(
            rt,
            job.id,
            hostname,
            job.attempts,
            where,
            parts,
            repository=repo.name,
            copies=now.copies,
        )

    def add(
        self,
        part: upload.SentPartJSON,
        migrated: upload.Migration | None,
        *,
        stage: tuple[str, int] | None = None,
    ) -> None:
        """Remember a sent part; `stage` (name, progress) goes into the same transaction, and
        so does the end of a wait note (note_wait)."""
        self.parts[str(part["index"])] = part
        if self.repository is None:
            patch = state.BackupPatch(uploaded=self.parts)
        else:
            self._copies[self.repository] = self.parts
            patch = state.BackupPatch(copies=self._copies)
        if self._waiting:
            patch["waiting"] = None
            self._waiting = False
        if migrated is not None:
            self.where = self.where.migrated(migrated[0], str(migrated[1]))
            if self.repository is None:
                patch["chat_id"] = str(migrated[1])
        try:
            with self._rt.database.transaction() as session:
                owner.still_ours(session, self._job_id, self._hostname, self._attempt)
                state.save(session, self._job_id, patch)
                ledger.record(
                    session,
                    self._job_id,
                    str(part["chat_id"]),
                    int(part["message_id"]),
                    part.get("bot_id"),
                )
                if stage is not None:
                    db_jobs.set_progress(session, self._job_id, stage=stage[0], progress=stage[1])
        except retry.CONTROL_PLANE_LOST:
            # Sent but written nowhere: nobody could ever find this message again, so it goes
            # now, while Telegram is known to answer; the step runs again and sends it anew.
            del self.parts[str(part["index"])]
            owner.delete_sent_parts(self._rt, {"unrecorded": part})
            raise
