"""Periodic tasks that beat starts (celeryconfig.beat_schedule): thin calls into worker/.

Each lives in worker/scheduling/ (dispatch, sweep, reaper, alerts):
- schedules.dispatch     due schedules -> pending jobs + backups.create
- backups.sweep_expired  expiry, GFS retention, deleteMessage of parts, old runs
- jobs.reap              stale jobs re-run or failed, finished spool dirs removed
- alerts.check           failed / overdue projects alerted once
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from celery import Celery

from worker.app import app
from worker.jobs import runtime
from worker.scheduling import alerts, reaper, sweep
from worker.scheduling import dispatch as dispatcher

CREATE_TASK = "backups.create"


def publisher(celery_app: Celery, queue: str | None = None) -> dispatcher.Send:
    """A Send that publishes backups.create over one producer, each after its countdown."""

    def send(items: Sequence[dispatcher.Enqueue]) -> None:
        with celery_app.producer_or_acquire() as producer:
            for item in items:
                celery_app.send_task(
                    CREATE_TASK,
                    kwargs=item.kwargs,
                    countdown=item.countdown or None,
                    producer=producer,
                    queue=queue,
                    ignore_result=True,
                )

    return send


def resend_backups(kwargs_list: Sequence[dict[str, object]]) -> None:
    """Publish backups.create again for requeued jobs (same job ids)."""
    publisher(app)(
        [dispatcher.Enqueue(uuid.UUID(str(k["job_id"])), k, countdown=0) for k in kwargs_list]
    )


@app.task(name="schedules.dispatch")
def dispatch() -> dict[str, object]:
    """Enqueue a backup for every due schedule, once per slot."""
    return dispatcher.dispatch(runtime.current(), publisher(app)).to_json()


@app.task(name="backups.sweep_expired")
def sweep_expired() -> dict[str, object]:
    """Expire backups, apply retention, delete their messages, prune old schedule runs."""
    return sweep.sweep(runtime.current()).to_json()


@app.task(name="jobs.reap")
def reap() -> dict[str, object]:
    """Re-run or fail jobs whose worker went silent; clean this host's finished spool."""
    return reaper.reap(runtime.current(), resend_backups).to_json()


@app.task(name="alerts.check")
def check_alerts() -> dict[str, object]:
    """Alert once per incident about failing or overdue projects."""
    return alerts.check(runtime.current()).to_json()
