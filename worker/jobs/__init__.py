"""What every job shares: intake, ownership (attempts, hosts), progress, the step runner,
the per-process runtime and the job-event log lines.

Plain job logic, run and tested without a Celery worker; only events connects Celery's task
signals. May import worker.contract, the adapters (worker.telegram, worker.postgres,
worker.artifact), db and the bottom layer; nothing of the job kinds, the app or tasks above.
"""

from __future__ import annotations
