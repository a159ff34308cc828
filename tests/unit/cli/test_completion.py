"""Shell completion as docs/getting-started.md tells people to set it up: click's own,
through the installed `backup-worker` script, lazy commands included."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).with_name("backup-worker"))


def complete(**env: str) -> str:
    done = subprocess.run(
        [CLI],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout


@pytest.mark.parametrize(
    ("shell", "registers"),
    [
        ("bash", "complete -o nosort -F _backup_worker_completion backup-worker"),
        ("zsh", "#compdef backup-worker"),
        ("fish", "complete --no-files --command backup-worker"),
    ],
)
def test_the_completion_script_is_produced(shell: str, registers: str) -> None:
    assert registers in complete(_BACKUP_WORKER_COMPLETE=f"{shell}_source")


def test_commands_and_subcommands_complete() -> None:
    words = complete(
        _BACKUP_WORKER_COMPLETE="bash_complete", COMP_WORDS="backup-worker bac", COMP_CWORD="1"
    )
    assert words.split() == ["plain,backup", "plain,backups"]
    words = complete(
        _BACKUP_WORKER_COMPLETE="bash_complete",
        COMP_WORDS="backup-worker backups f",
        COMP_CWORD="2",
    )
    assert words.split() == ["plain,forget"]
