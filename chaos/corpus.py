"""Malformed and hostile task arguments, sent as real Celery messages, and what each must give.

Each case ends either as a failed jobs row whose error contains `expect`, or refused before a
job exists (`expect_row=False`) with a log line naming the task id. Nothing may be run through a
shell: the `$(...)` names would create MARKER if one were.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path

from worker.contract import publish, tasks
from worker.jobs import intake

MARKER = Path("/tmp/backup-worker-chaos-pwned")  # noqa: S108 - proof that no shell ran


@dataclass(frozen=True)
class Case:
    """One hostile message and the outcome it must have."""

    label: str
    kwargs: dict[str, object]
    expect: str
    task: str = tasks.CREATE
    expect_row: bool = True
    args: tuple[object, ...] = ()
    task_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def job_id(self) -> str:
        """The job the worker derives from the task id (no job_id given)."""
        given = self.kwargs.get("job_id")
        if isinstance(given, str):
            try:
                return str(uuid.UUID(given))
            except ValueError:
                pass
        return str(intake.job_id_for_task(self.task_id))


def cases(project: str = "proj-bad") -> list[Case]:
    """The corpus; `project` is a valid project id used where the project is not the point."""
    shell = f"db$(touch {MARKER})"
    name_rule = "database name"
    # Legal PostgreSQL names (a server may hold any of them): each must reach PostgreSQL as one
    # value, and fail its job because no such database exists, never run anything.
    hostile_names = {
        "double quote": 'sales"; DROP DATABASE x; --',
        "single quote": "sa'les",
        "space": "my sales",
        "semicolon": "sales;ls",
        "command substitution": shell,
        "backticks": f"`touch {MARKER}`",
        "leading dash": "--help",
        "leading dash -f": "-f/etc/passwd",
        "conninfo": "host=evil dbname=x",
        "newline": "sales\nx",
    }
    # Names no server can hold.
    impossible_names = {"10,000 characters": "a" * 10_000, "NUL byte": "sales\x00x", "empty": ""}
    found = [
        Case(f"database: {label}", {"project_id": project, "database": value}, "does not exist")
        for label, value in hostile_names.items()
    ]
    found += [
        Case(f"database: {label}", {"project_id": project, "database": value}, name_rule)
        for label, value in impossible_names.items()
    ]
    found += [
        Case(
            "unknown project and database",
            {"project_id": "proj-unknown-0", "database": "no_such_db_for_chaos"},
            "no_such_db_for_chaos",
        ),
        Case(
            "project id with shell",
            {"project_id": f"p$(touch {MARKER})", "database": "x"},
            "invalid project id",
            expect_row=False,
        ),
        Case(
            "project id 10,000 characters",
            {"project_id": "p" * 10_000, "database": "x"},
            "invalid project id",
            expect_row=False,
        ),
        Case(
            "project id with NUL",
            {"project_id": "p\x00", "database": "x"},
            "invalid project id",
            expect_row=False,
        ),
        Case(
            "caption past 1024",
            {"project_id": project, "database": "x", "caption": "c" * 1100},
            "caption is too long",
        ),
        Case(
            "caption with NUL",
            {"project_id": project, "database": "x", "caption": "a\x00b"},
            "invalid caption",
        ),
        Case(
            "job id that does not exist",
            {"project_id": project, "database": "x", "job_id": str(uuid.uuid4())},
            "does not exist",
            expect_row=False,
        ),
        Case(
            "job id not a uuid",
            {"project_id": project, "database": "x", "job_id": "../../etc"},
            "invalid job id",
            expect_row=False,
        ),
        Case(
            "wrong type: project id",
            {"project_id": 123, "database": "x"},
            "invalid project id",
            expect_row=False,
        ),
        Case(
            "wrong type: database",
            {"project_id": project, "database": ["x"]},
            "database name must be a string",
        ),
        Case(
            "wrong type: expires_in_days",
            {"project_id": project, "database": "x", "expires_in_days": "30"},
            "invalid expires_in_days",
        ),
        Case(
            "wrong type: expires_in_days bool",
            {"project_id": project, "database": "x", "expires_in_days": True},
            "invalid expires_in_days",
        ),
        Case(
            "wrong type: job id",
            {"project_id": project, "database": "x", "job_id": 42},
            "invalid job id",
            expect_row=False,
        ),
        Case(
            "bad filename",
            {"project_id": project, "database": "x", "filename": "../../x"},
            "invalid filename",
        ),
        Case("positional arguments", {}, "TypeError", expect_row=False, args=(project, "x")),
        Case(
            "unknown keyword",
            {"project_id": project, "database": "x", "shell": "rm -rf /"},
            "unknown argument(s) shell",
        ),
        Case(
            "restore: backup id not a uuid",
            {"project_id": project, "backup_id": "1; DROP", "target_database": "t"},
            "backup",
            task=tasks.RESTORE,
        ),
        Case(
            "restore: no project",
            {"backup_id": str(uuid.uuid4()), "target_database": "t"},
            "project_id",  # a required argument: Celery's TypeError, as for backups.create
            task=tasks.RESTORE,
            expect_row=False,
        ),
        Case(
            "restore: unknown backup",
            {"project_id": project, "backup_id": str(uuid.uuid4()), "target_database": "t"},
            "backup",
            task=tasks.RESTORE,
            expect_row=False,
        ),
        Case(
            "verify: unknown backup",
            {"project_id": project, "backup_id": str(uuid.uuid4())},
            "backup",
            task=tasks.VERIFY,
            expect_row=False,
        ),
        Case(
            "verify: unknown keyword",
            {"project_id": project, "backup_id": str(uuid.uuid4()), "priority": "high"},
            "priority",
            task=tasks.VERIFY,
        ),
    ]
    return found


def send(cases_: list[Case], publisher: publish.Publisher) -> None:
    """Publish every case as a hostile client could: unchecked, one message each."""
    for case in cases_:
        publisher.send_raw(case.task, case.kwargs, args=case.args, task_id=case.task_id)
