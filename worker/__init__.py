"""The Celery app and the domain logic of the backup worker, usable without Celery.

One subpackage per concept; imports point down only, checked by import-linter
(pyproject.toml, `make lint`):

    worker.cli                                          commands (imports anything below)
    tasks                                               thin Celery tasks (top-level package)
    worker.app                                          the Celery app
    worker.logs                                         log set-up of worker and beat processes
    worker.backup | worker.restore | worker.scheduling  the steps of each kind of work
    worker.jobs                                         intake, ownership, progress, step runner
    worker.contract                                     task arguments, validated
    worker.telegram | worker.artifact | worker.postgres the adapters
    db                                                  storage (top-level package)
    worker.errors : worker.settings : worker.redact     the exception tree, settings, redactor

A `|` row holds independent siblings (none imports another); a `:` row siblings that may.
The modules at the bottom import nothing of the project but each other.

worker.app and worker.logs are the Celery process's wiring, not domain logic. Tasks need the
app (`@app.task`), so it sits below tasks; the app installs logs, and logs connects the
job-event lines of worker.jobs.events (and the bot-token redaction of worker.telegram) to
Celery's signals, so logs sits above jobs and the adapters. Both sit above backup, restore and
scheduling so that no step imports the Celery app or the process's log set-up: every step runs
and is tested without Celery. The redactor (worker.redact) is plain text processing, so it
joins errors and settings at the bottom, where any layer may use it.
"""

from __future__ import annotations
