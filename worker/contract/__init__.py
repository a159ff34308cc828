"""The gateway contract: public task names, their keyword arguments, and the one publisher.

tasks: every public task's name and typed arguments (TASKS); publish: Publisher, over Celery's
send_task passed in; request: the validators of those arguments and the backup request;
rows: what the gateway reads back (the jobs and backups rows, the stats); schema: all of it as
one JSON Schema, the TypeScript client's source (`backup-worker contract schema`).
May import worker.postgres (database names), worker.errors and worker.settings; never the
Celery app, db/ or the layers above.
"""

from __future__ import annotations
