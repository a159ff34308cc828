"""Whole-server backups: one backup job per database of a source server.

Which databases, and whose project each is, is worker.jobs.fanout's rule, shared with the
schedules whose database is `*`.
"""

from __future__ import annotations

from collections.abc import Sequence

from worker.contract import publish, request
from worker.jobs import fanout, intake
from worker.jobs.runtime import Runtime

Item = fanout.Item


def enqueue_server(
    rt: Runtime,
    server_name: str,
    publisher: publish.Publisher,
    *,
    exclude: Sequence[str] = (),
    expires_in_days: int | None = None,
    caption: str | None = None,
) -> list[Item]:
    """One pending job and backups.create per database of the server; the report."""
    server = rt.registry().get(server_name)
    report: list[Item] = []
    for item in fanout.plan(rt, server, exclude):
        if item.project_id is None:
            report.append(item)
            continue
        req = request.validate(
            item.project_id, item.database, expires_in_days, caption, server=server.name
        )
        job_id = intake.enqueue(rt, req, publisher)
        report.append(Item(item.database, item.project_id, str(job_id)))
    return report
