"""What the exporter reads of the fleet's history: job run times, earlier backup sizes, verdicts.

Queries of the control-plane tables for the metrics that compare or count over time; each costs
one statement per scrape. db.queries.health holds the per-project "latest" reads that
`backup-worker status` shares.
"""

from __future__ import annotations

import dataclasses

from sqlalchemy import Float, cast, func, select
from sqlalchemy.orm import Session

from db import models
from db.queries import restores

Key = tuple[str, str]  # (project_id, database)
# Upper bounds of the job duration histogram, in seconds: a second to a day, covering a small
# database's backup and a large one's restore.
BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0)


@dataclasses.dataclass(frozen=True)
class Durations:
    """Finished jobs of one (type, status): a histogram of their run times."""

    buckets: tuple[int, ...]  # cumulative counts, one per BUCKETS bound
    count: int
    total_seconds: float


def durations(session: Session) -> dict[tuple[str, str], Durations]:
    """(type, status) -> run times (started_at to finished_at) of every finished job."""
    seconds = cast(func.extract("epoch", models.Job.finished_at - models.Job.started_at), Float)
    counted = [func.count().filter(seconds <= bound) for bound in BUCKETS]
    rows = session.execute(
        select(models.Job.type, models.Job.status, func.count(), func.sum(seconds), *counted)
        .where(
            models.Job.status.in_([status.value for status in models.FINISHED]),
            models.Job.started_at.is_not(None),
            models.Job.finished_at.is_not(None),
        )
        .group_by(models.Job.type, models.Job.status)
        .order_by(models.Job.type, models.Job.status)
    )
    found: dict[tuple[str, str], Durations] = {}
    for type_, status, count, total, *buckets in rows:
        found[(type_, status)] = Durations(
            buckets=tuple(int(b) for b in buckets), count=int(count), total_seconds=float(total)
        )
    return found


def previous_sizes(session: Session) -> dict[Key, int]:
    """(project, database) -> size of the backup before the newest one."""
    backup = models.Backup
    rank = (
        func.row_number()
        .over(
            partition_by=(backup.project_id, backup.database),
            order_by=(backup.created_at.desc(), backup.id.desc()),
        )
        .label("rank")
    )
    ranked = select(backup.project_id, backup.database, backup.size_bytes, rank).subquery()
    rows = session.execute(
        select(ranked.c.project_id, ranked.c.database, ranked.c.size_bytes).where(
            ranked.c.rank == 2
        )
    )
    return {(project, database or ""): int(size) for project, database, size in rows}


def failed_verifications(session: Session) -> dict[Key, int]:
    """(project, database) -> active backups whose latest verification failed (the same
    condition as the worker's own alert check, db.queries.alerts.failed_verifications)."""
    backup = models.Backup
    rows = session.execute(
        select(backup.project_id, backup.database, func.count())
        .where(
            backup.verify_status == restores.VERIFY_FAILED,
            backup.status == models.BackupStatus.ACTIVE.value,
        )
        .group_by(backup.project_id, backup.database)
    )
    return {(project, database or ""): int(count) for project, database, count in rows}
