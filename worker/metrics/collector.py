"""The Prometheus collector: one snapshot of the database and Redis per scrape, as metrics.

Every metric name is in METRICS (the dashboard test checks its queries against it). Labels are
bounded: project and database, job type and status, queue, Bot API method and outcome,
direction, server, source; never a job id, a backup id, a chat id or anything secret.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from importlib import metadata

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)

from db.queries import health
from worker.metrics import history, snapshot, workers

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
    "backup_worker_previous_backup_size_bytes": "size of the backup before the last one",
    "backup_worker_backups_verify_failed": "active backups whose latest verification failed",
    "backup_worker_drill_period_seconds": "how often each project is to be drilled",
    "backup_worker_job_duration_seconds": "run time of finished jobs by type and outcome",
    "backup_worker_workers": "workers consuming a queue that sent a heartbeat lately",
    "backup_worker_worker_heartbeat_timestamp_seconds": "when a worker last sent its heartbeat",
    "backup_worker_spool_free_bytes": "free bytes on the file system of a worker's spool",
    "backup_worker_spool_size_bytes": "size of the file system of a worker's spool",
    "backup_worker_build_info": "the exporter's version, always 1",
    "backup_worker_recovery_window_seconds": "span of time a server can be recovered to",
    "backup_worker_wal_lag_seconds": "now minus the newest recoverable point (the current RPO)",
    "backup_worker_wal_gaps": "holes in a server's recorded WAL since its oldest base backup",
    "backup_worker_repository_up": "1 when a Telegram repository's bots and chats answered",
}
# The series a PromQL query may also name: the summary's, the histogram's and the counters' own
# samples (the histogram's family name has no sample of its own).
EXPOSED = (frozenset(METRICS) - {"backup_worker_job_duration_seconds"}) | {
    "backup_worker_pacer_wait_seconds_sum",
    "backup_worker_pacer_wait_seconds_count",
    "backup_worker_job_duration_seconds_bucket",
    "backup_worker_job_duration_seconds_sum",
    "backup_worker_job_duration_seconds_count",
}


class Collector:
    """Reads a snapshot per scrape; `read` is snapshot.read with the sources bound."""

    def __init__(
        self,
        read: Callable[[], snapshot.Snapshot],
        *,
        drill_period: float | None = None,
        repositories: Callable[[], dict[str, bool]] | None = None,
    ) -> None:
        self._read = read
        self._drill_period = drill_period  # seconds (DRILL_PERIOD_DAYS); None: not exported
        # Each repository's verdict (worker.metrics.repositories); None: not exported
        self._repositories = repositories

    def collect(self) -> Iterator[Metric]:
        """The metrics of one fresh snapshot."""
        found = self._read()
        yield build_info()
        yield from project_metrics(found)
        yield from history_metrics(found, self._drill_period)
        yield from fleet_metrics(found)
        yield from worker_metrics(found)
        yield from wal_metrics(found)
        if self._repositories is not None:
            yield repository_metric(self._repositories())


def repository_metric(states: dict[str, bool]) -> Metric:
    """backup_worker_repository_up{repository}: 0 once a repository's store is gone."""
    up = _gauge("backup_worker_repository_up", ["repository"])
    for name, state in sorted(states.items()):
        up.add_metric([name], 1.0 if state else 0.0)
    return up


def build_info() -> Metric:
    """backup_worker_build_info{version} 1: which release the exporter runs."""
    try:
        version = metadata.version("backup-worker")
    except metadata.PackageNotFoundError:
        version = "unknown"
    info = _gauge("backup_worker_build_info", ["version"])
    info.add_metric([version], 1.0)
    return info


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


def history_metrics(found: snapshot.Snapshot, drill_period: float | None) -> Iterator[Metric]:
    """The previous backup's size, failed verifications, the drill period, job run times."""
    previous = _gauge("backup_worker_previous_backup_size_bytes", PROJECT)
    for (project, database), size in sorted(found.previous_sizes.items()):
        previous.add_metric([project, database], size)
    failed = _gauge("backup_worker_backups_verify_failed", PROJECT)
    for known in found.projects:  # 0 for the healthy ones, so a rule sees them recover
        key = (known.project_id, known.database)
        failed.add_metric(list(key), found.verify_failed.get(key, 0))
    yield from (previous, failed)
    if drill_period is not None:
        period = _gauge("backup_worker_drill_period_seconds", [])
        period.add_metric([], drill_period)
        yield period
    durations = HistogramMetricFamily(
        "backup_worker_job_duration_seconds",
        METRICS["backup_worker_job_duration_seconds"],
        labels=["type", "outcome"],
    )
    for (type_, outcome), seen in sorted(found.durations.items()):
        bounds = zip(history.BUCKETS, seen.buckets, strict=True)
        buckets = [(repr(bound), float(n)) for bound, n in bounds]
        buckets.append(("+Inf", float(seen.count)))
        durations.add_metric([type_, outcome], buckets, sum_value=seen.total_seconds)
    yield durations


def worker_metrics(found: snapshot.Snapshot) -> Iterator[Metric]:
    """Live workers per queue, and each worker's last heartbeat and spool space."""
    if not found.redis_read:  # RabbitMQ, or Redis unreadable: no worker is known dead
        return
    consumers = dict.fromkeys(workers.CONSUMED_QUEUES, 0)
    seen = _gauge("backup_worker_worker_heartbeat_timestamp_seconds", ["worker"])
    free = _gauge("backup_worker_spool_free_bytes", ["worker"])
    size = _gauge("backup_worker_spool_size_bytes", ["worker"])
    for beat in found.heartbeats:
        seen.add_metric([beat.name], beat.at)
        if not beat.fresh(found.clock):
            continue
        for queue in beat.queues:
            consumers[queue] = consumers.get(queue, 0) + 1
        if beat.spool_free is not None and beat.spool_size is not None:
            free.add_metric([beat.name], beat.spool_free)
            size.add_metric([beat.name], beat.spool_size)
    live = _gauge("backup_worker_workers", ["queue"])
    for queue, count in sorted(consumers.items()):
        live.add_metric([queue], count)
    yield from (live, seen, free, size)


def wal_metrics(found: snapshot.Snapshot) -> Iterator[Metric]:
    """Per server with WAL recorded: its recoverable window, the streamer's lag, the gaps."""
    window = _gauge("backup_worker_recovery_window_seconds", ["server"])
    lag = _gauge("backup_worker_wal_lag_seconds", ["server"])
    holes = _gauge("backup_worker_wal_gaps", ["server"])
    for server in found.wal:
        window.add_metric([server.server], server.window_seconds)
        behind = server.lag_seconds(found.now)
        if behind is not None:
            lag.add_metric([server.server], behind)
        holes.add_metric([server.server], len(server.holes))
    yield from (window, lag, holes)
