"""The Celery application.

Run a worker with `celery -A worker.app worker`. Creating the app opens nothing: Celery reads
celeryconfig (and so the settings) only when the configuration is first used.
"""

from __future__ import annotations

from celery import Celery

TASK_MODULES = ("tasks.backup",)


def create_app() -> Celery:
    """Build the Celery app with its configuration module and task modules."""
    celery_app = Celery("backup_worker", include=list(TASK_MODULES))
    celery_app.config_from_object("celeryconfig")
    return celery_app


app = create_app()
