"""The Celery application.

Run a worker with `celery -A worker.app worker`. Creating the app opens nothing: Celery reads
celeryconfig (and so the settings) only when the configuration is first used.

Its layer (worker/__init__.py): below worker.cli and tasks, above worker.logs and the domain,
which never import it.
"""

from __future__ import annotations

from celery import Celery

from worker import logs

TASK_MODULES: tuple[str, ...] = ("tasks.backup",)
TASK_MODULES += ("tasks.restore",)
TASK_MODULES += ("tasks.maintenance",)


def create_app() -> Celery:
    """Build the Celery app with its configuration module and task modules."""
    celery_app = Celery("backup_worker", include=list(TASK_MODULES))
    celery_app.config_from_object("celeryconfig")
    # Logging set-up and job-event lines come from Celery's signals (worker/logs.py).
    logs.install()
    return celery_app


app = create_app()
