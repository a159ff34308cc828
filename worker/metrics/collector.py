"""The Prometheus collector: one snapshot of the database and Redis per scrape, as metrics.

Every metric name is in METRICS (the dashboard test checks its queries against it). Labels are
bounded: project and database, job type and status, queue, Bot API method and outcome,
direction, server, source; never a job id, a backup id, a chat id or anything secret.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)

from db.queries import health
from worker.metrics import snapshot

PREFIX = "backup_worker_"
PROJECT = ["project", "database"]
# name -> help; counters are listed by their exposed name (with _total), the summary by its
# family name (exposed as _sum and _count).
METRICS: dict[str, str] = {
    "backup_worker_last_success_timestamp_seconds": "when the last backup was recorded",
    "backup_worker_last_backup_size_bytes": "size of the last backup as uploaded",
    "backup_worker_last_backup_duration_seconds": "run time of the last backup's job",
    "backup_worker_last_job_failed": "1 when the latest finished backup job failed",
    "backup_worker_schedule_period_seconds": "period of the shortest enabled schedule",
    "backup_worker_schedule_lag_seconds": "seconds past the expected next backup (0: on time)",
    "backup_worker_last_drill_timestamp_seconds": "when the last drill ran",
    "backup_worker_last_drill_success": "1 when the last drill passed, 0 when it failed",
    "backup_worker_jobs": "jobs rows by type and status",
    "backup_worker_queue_messages": "messages waiting in a Celery queue",
    "backup_worker_telegram_requests_total": "Bot API attempts by method and outcome",
    "backup_worker_telegram_bytes_total": "document bytes sent to and fetched from Telegram",
    "backup_worker_pacer_wait_seconds": "time the fleet pacer made sends wait",
    "backup_worker_dump_slots_in_use": "dump slots held on a source server",
    "backup_worker_dump_slots_waiting": "dumps waiting for a slot on a source server",
    "backup_worker_source_up": "1 when the exporter could read the source at this scrape",
}
# The series a PromQL query may also name: the summary's and the counters' own samples.
EXPOSED = frozenset(METRICS) | {
    "backup_worker_pacer_wait_seconds_sum",
    "backup_worker_pacer_wait_seconds_count",
}


class Collector:
    """Reads a snapshot per scrape; `read` is snapshot.read with the sources bound."""

    def __init__(self, read: Callable[[], snapshot.Snapshot]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        """The metrics of one fresh snapshot."""
        found = self._read()
        yield from project_metrics(found)
        yield from fleet_metrics(found)


def _gauge(name: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, METRICS[name], labels=labels)


def project_metrics(found: snapshot.Snapshot) -> Iterator[Metric]:
    """Per (project, database): last backup, its job, schedule lag, drill."""
    success = _gauge("backup_worker_last_success_timestamp_seconds", PROJECT)
    size = _gauge("backup_worker_last_backup_size_bytes", PROJECT)
    duration = _gauge("backup_worker_last_backup_duration_seconds", PROJECT)
    failed = _gauge("backup_worker_last_job_failed", PROJECT)
    period = _gauge("backup_worker_schedule_period_seconds", PROJECT)
    lag = _gauge("backup_worker_schedule_lag_seconds", PROJECT)
    drilled = _gauge("backup_worker_last_drill_timestamp_seconds", PROJECT)
    drill_ok = _gauge("backup_worker_last_drill_success", PROJECT)
    for project in found.projects:
        labels = [project.project_id, project.database]
        if project.last_backup_at is not None:
            success.add_metric(labels, project.last_backup_at.timestamp())
        if project.last_backup_bytes is not None:
            size.add_metric(labels, project.last_backup_bytes)
        if project.last_backup_seconds is not None:
            duration.add_metric(labels, project.last_backup_seconds)
        if project.last_job_status is not None:
            failed.add_metric(labels, 1.0 if project.failing else 0.0)
        if project.period_seconds is not None:
            period.add_metric(labels, project.period_seconds)
            lag.add_metric(labels, project.lag_seconds(found.now) or 0.0)
        if project.drilled_at is not None:
            drilled.add_metric(labels, project.drilled_at.timestamp())
            drill_ok.add_metric(labels, 1.0 if project.drill_status == health.DRILL_OK else 0.0)
    yield from (success, size, duration, failed, period, lag, drilled, drill_ok)


def fleet_metrics(found: snapshot.Snapshot) -> Iterator[Metric]:
    """Jobs, queues, Telegram counters, pacer waits, dump slots, and which sources were read."""
    jobs = _gauge("backup_worker_jobs", ["type", "status"])
    for (type_, status), count in sorted(found.jobs.items()):
        jobs.add_metric([type_, status], count)
    queue = _gauge("backup_worker_queue_messages", ["queue"])
    for name, depth in found.queues.items():
        queue.add_metric([name], depth)
    in_use = _gauge("backup_worker_dump_slots_in_use", ["server"])
    waiting = _gauge("backup_worker_dump_slots_waiting", ["server"])
    for server, (holding, waiters) in found.slots.items():
        in_use.add_metric([server], holding)
        waiting.add_metric([server], waiters)
    up = _gauge("backup_worker_source_up", ["source"])
    for source in (snapshot.DATABASE, snapshot.REDIS):
        up.add_metric([source], 0.0 if source in found.failed else 1.0)
    yield from (jobs, queue, in_use, waiting, up)
    if found.telegram is None:
        return
    requests = CounterMetricFamily(
        "backup_worker_telegram_requests",
        METRICS["backup_worker_telegram_requests_total"],
        labels=["method", "outcome"],
    )
    for (method, outcome), count in sorted(found.telegram.requests.items()):
        requests.add_metric([method, outcome], count)
    sent = CounterMetricFamily(
        "backup_worker_telegram_bytes",
        METRICS["backup_worker_telegram_bytes_total"],
        labels=["direction"],
    )
    for direction, amount in sorted(found.telegram.bytes.items()):
        sent.add_metric([direction], amount)
    pacer = SummaryMetricFamily(
        "backup_worker_pacer_wait_seconds",
        METRICS["backup_worker_pacer_wait_seconds"],
        count_value=found.telegram.pacer_waits,
        sum_value=found.telegram.pacer_wait_sum,
    )
    yield from (requests, sent, pacer)
