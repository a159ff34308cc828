"""What a job's `payload` and `result` hold while it runs, typed: the one reader and writer.

The JSON in the jobs row keeps its shape (the gateway and operators read it). Readers take
what they know and ignore the rest, so a row written by an older or newer worker never crashes
a step; writers merge typed patches (jsonb `||`, top-level keys replaced).

A backup job's result while it runs:
  artifact            the dump's manifest (worker.artifact.manifest.ArtifactJSON), or null
  uploaded            {"<part index>": SentPart} sent so far: the upload's resume point
  copies              {"<repository>": {"<part index>": SentPart}}: copies 1, 2, ... likewise
  chat_id             where Telegram moved the chat (migrate_to_chat_id), when it did
  waiting             while a part waits for its slot in Telegram's rate limit: what and how long
  spool_full_retries  how often a full spool handed the job back
  retry_at            when a job handed back after a full spool may run again (ISO 8601)
  deferred            while a step waits for its Telegram slot: step, until, slot (jobs.deferral)
  waiting             while it waits for a slot of its source server, what for (else null)
  contents            what the dump's snapshot held (worker.postgres.snapshot.Contents)
A restore or verify job's result while it runs:
  artifact            {"path": ..., "checked": true, "seconds": ...} once the download passed
  target_created      true when this job created the target database
  waiting             as for a backup: the wait for a slot of the target server
  drill               a drill's report so far (worker.restore.drill.Report), kept when it fails
A finished job's result is its summary instead ({"backup": ...}, {"restore": ...}, ...).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NotRequired, TypedDict

from sqlalchemy.orm import Session

from db import models
from db.queries import jobs as db_jobs
from worker import errors
from worker.artifact import manifest
from worker.contract import request, tasks


class SentPart(TypedDict):
    """A sent part as stored in the jobs row and printed by the CLI."""

    index: int
    file_id: str
    file_unique_id: str
    message_id: int
    chat_id: str
    size_bytes: int
    sha256: str
    bot_id: NotRequired[str]  # the uploading bot (token prefix); absent in rows of older workers


class CheckedArtifact(TypedDict):
    """A restore's downloaded artifact, once every checksum passed."""

    path: str
    checked: bool
    seconds: float  # the download step's, a restore's decoding included


class BackupPatch(TypedDict, total=False):
    """Keys a backup step changes in its job's result."""

    artifact: manifest.ArtifactJSON | None
    uploaded: dict[str, SentPart]
    # Copies 1, 2, ... (BACKUP_COPIES): {"<repository>": {"<part index>": SentPart}}.
    copies: dict[str, dict[str, SentPart]]
    pg_dump_version: str  # the pg_dump that wrote the artifact, as it printed its version
    chat_id: str
    waiting: str | None
    spool_full_retries: int
    retry_at: str
    contents: dict[str, object]


class RestorePatch(TypedDict, total=False):
    """Keys a restore or verify step changes in its job's result."""

    artifact: CheckedArtifact | None
    target_created: bool
    waiting: str | None
    switch: SwitchRecord
    drill: Mapping[str, object]  # a drill's report so far (worker.restore.drill.Report)
    copies_used: dict[str, str]  # with copies: {"<part number>": "<repository read from>"}


class SwitchRecord(TypedDict):
    """A restore through staging: which database is which, how far the switch got, its outcome."""

    databases: dict[str, str]  # project, staging, undo (worker.postgres.switch.Names)
    phase: str  # worker.postgres.switch's phases, saved before each step
    keep_undo: bool  # False: the project's old database was empty, dropped after the switch
    summary: dict[str, object]  # the job's result.restore once the switch is done


def save(session: Session, job_id: uuid.UUID, patch: BackupPatch | RestorePatch) -> None:
    """Merge `patch` into the running job's result; JobStateError for a finished job."""
    db_jobs.merge_result(session, job_id, patch)


def _result(job: models.Job) -> Mapping[str, object]:
    return job.result if isinstance(job.result, Mapping) else {}


def _payload(job: models.Job) -> Mapping[str, object]:
    return job.payload if isinstance(job.payload, Mapping) else {}


def has_artifact(job: models.Job) -> bool:
    """Whether the job's current attempt got as far as an artifact (dump or download)."""
    return bool(_result(job).get("artifact"))


@dataclass(frozen=True)
class BackupPayload:
    """A backup job's payload: the request (checked again on reading) and where it goes."""

    request: request.BackupRequest
    chat_id: str
    thread_id: int | None = None

    @classmethod
    def of(cls, job: models.Job) -> BackupPayload:
        """The payload of a backup job; InputError when it does not hold a valid request."""
        payload = _payload(job)
        thread = payload.get("thread_id")
        return cls(
            request.BackupRequest.from_payload(payload),
            str(payload.get("chat_id") or ""),
            thread if isinstance(thread, int) and not isinstance(thread, bool) else None,
        )

    @classmethod
    def rerun(cls, job: models.Job) -> tasks.CreateBackup | None:
        """The backups.create that runs this backup job again; None if its row cannot."""
        if job.type != models.JobType.BACKUP.value:
            return None
        try:
            return tasks.CreateBackup.of(cls.of(job).request, job.id)
        except errors.InputError:
            return None


@dataclass(frozen=True)
class BackupState:
    """A running backup job's result."""

    artifact: Mapping[str, object] | None = None
    uploaded: dict[str, SentPart] = field(default_factory=dict)
    copies: dict[str, dict[str, SentPart]] = field(default_factory=dict)
    chat_id: str | None = None
    spool_full_retries: int = 0
    retry_at: dt.datetime | None = None
    contents: dict[str, object] | None = None
    pg_dump_version: str | None = None

    @classmethod
    def of(cls, job: models.Job) -> BackupState:
        """Read the job's result; missing or unreadable keys take their defaults."""
        result = _result(job)
        artifact = result.get("artifact")
        uploaded = result.get("uploaded")
        retries = result.get("spool_full_retries")
        contents = result.get("contents")
        copies = result.get("copies")
        return cls(
            copies={str(k): dict(v) for k, v in copies.items() if isinstance(v, Mapping)}
            if isinstance(copies, Mapping)
            else {},
            artifact=artifact if isinstance(artifact, Mapping) and artifact else None,
            uploaded=dict(uploaded) if isinstance(uploaded, Mapping) else {},
            chat_id=str(result["chat_id"]) if result.get("chat_id") else None,
            spool_full_retries=retries if isinstance(retries, int) else 0,
            retry_at=parse_when(result.get("retry_at")),
            contents=dict(contents) if isinstance(contents, Mapping) else None,
            pg_dump_version=str(result["pg_dump_version"])
            if result.get("pg_dump_version")
            else None,
        )

    def manifest(self, job_id: uuid.UUID) -> manifest.Artifact:
        """The dump's artifact; JobStateError when this attempt has none yet."""
        if self.artifact is None:
            raise errors.JobStateError(f"job {job_id} has no dump yet: it must start over")
        return manifest.Artifact.from_json(self.artifact)


@dataclass(frozen=True)
class RestoreState:
    """A running restore or verify job's result."""

    checked: str | None = None  # the path of the checked download, once there is one
    download_seconds: float | None = None  # how long the download step took
    target_created: bool = False
    switch: Mapping[str, object] | None = None  # a SwitchRecord, once staging exists
    drill: Mapping[str, object] | None = None  # a drill's report so far
    copies_used: dict[str, str] | None = None  # with copies: the repository of each part

    @classmethod
    def of(cls, job: models.Job) -> RestoreState:
        """Read the job's result; missing or unreadable keys take their defaults."""
        result = _result(job)
        artifact = result.get("artifact")
        checked, seconds = None, None
        if isinstance(artifact, Mapping) and artifact.get("checked"):
            checked = str(artifact.get("path") or "") or None
            took = artifact.get("seconds")
            seconds = float(took) if isinstance(took, int | float) else None
        switch = result.get("switch")
        return cls(
            checked=checked,
            download_seconds=seconds,
            target_created=result.get("target_created") is True,
            switch=switch if isinstance(switch, Mapping) else None,
            drill=drill if isinstance(drill := result.get("drill"), Mapping) else None,
            copies_used=dict(used)
            if isinstance(used := result.get("copies_used"), Mapping)
            else None,
        )


def is_drill(job: models.Job) -> bool:
    """Whether the job is a restore drill (a restore of mode drill)."""
    return (
        job.type == models.JobType.RESTORE.value and _payload(job).get("mode") == tasks.MODE_DRILL
    )


def backup_id_of(job: models.Job) -> uuid.UUID | None:
    """The backup a restore or verify job is about, if its payload names a valid one."""
    value = _payload(job).get("backup_id")
    try:
        return uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None


def parse_when(value: object) -> dt.datetime | None:
    """An ISO 8601 time kept in a jobs row, None when absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        return None
