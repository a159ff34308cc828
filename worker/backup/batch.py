"""A batch of backups in one call: one job each, and a report of which were accepted."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from kombu import exceptions as kombu_errors

from worker import errors, redact
from worker.contract import publish, request, tasks
from worker.contract.rows import BatchItem
from worker.jobs import intake
from worker.jobs.runtime import Runtime

MAX_BATCH = 1000  # requests per call; beyond that, send several batches

# backups.create's arguments but its job id: each request gets a job of its own.
ALLOWED_KEYS = frozenset(f.name for f in dataclasses.fields(tasks.CreateBackup)) - {"job_id"}


def enqueue_batch(rt: Runtime, items: object, publisher: publish.Publisher) -> list[BatchItem]:
    """Validate and enqueue each request; a bad one is reported and the others go ahead."""
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        raise errors.InputError("a batch is a list of backup requests")
    if len(items) > MAX_BATCH:
        raise errors.InputError(f"a batch holds at most {MAX_BATCH} requests, not {len(items)}")
    report: list[BatchItem] = []
    for index, item in enumerate(items):
        try:
            if not isinstance(item, Mapping):
                raise errors.InputError("each request must be an object")
            unknown = sorted(set(map(str, item)) - ALLOWED_KEYS)
            if unknown:
                raise errors.InputError(f"unknown field(s) {', '.join(unknown)}")
            req = request.validate(
                item.get("project_id"),
                item.get("database"),
                item.get("expires_in_days"),
                item.get("caption"),
                item.get("filename"),
                item.get("server"),
            )
            job_id = intake.enqueue(rt, req, publisher)
        except errors.BackupWorkerError as exc:
            report.append(BatchItem(index=index, status="refused", job_id=None, error=exc.message))
        except kombu_errors.OperationalError as exc:
            # The broker is out of reach: this request's row is failed (intake.send_pending) and
            # the rest are not tried, so the report still says exactly which ones were queued.
            said = f"not queued: the broker could not be reached ({redact.redact(str(exc))[:200]})"
            report.append(BatchItem(index=index, status="refused", job_id=None, error=said))
            untried = "not tried: the broker could not be reached for an earlier request"
            report.extend(
                BatchItem(index=later, status="refused", job_id=None, error=untried)
                for later in range(index + 1, len(items))
            )
            break
        else:
            report.append(BatchItem(index=index, status="queued", job_id=str(job_id), error=None))
    return report
