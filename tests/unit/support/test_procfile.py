"""The harness starts the Procfile's commands: only the venv's spelling differs."""

from __future__ import annotations

import sys

from tests.support import procfile


def test_every_process_type_is_read_as_written() -> None:
    found = procfile.commands()
    assert found["worker"] == [
        "celery",
        "-A",
        "worker.app",
        "worker",
        "-Q",
        "celery",
        "--loglevel=INFO",
    ]
    assert found["beat"][:4] == ["celery", "-A", "worker.app", "beat"]
    assert found["flower"] == ["backup-worker", "flower"]


def test_celery_and_backup_worker_are_this_venvs_and_options_come_last() -> None:
    assert procfile.argv("worker", "-n", "a@%h") == [
        sys.executable,
        "-m",
        "celery",
        *procfile.commands()["worker"][1:],
        "-n",
        "a@%h",
    ]
    assert procfile.argv("flower") == [str(procfile.VENV_BIN / "backup-worker"), "flower"]
