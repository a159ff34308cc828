"""The Procfile's commands, as the harness starts them.

Each process type (worker, beat, flower) runs exactly the Procfile's command line. Two words
are spelled for the virtualenv the tests run in, which need not be on PATH: `celery` becomes
`sys.executable -m celery` and `backup-worker` the script next to `sys.executable`. Options a
test needs are appended by that test, never here.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROCFILE = ROOT / "Procfile"
VENV_BIN = Path(sys.executable).parent


def commands(path: Path = PROCFILE) -> dict[str, list[str]]:
    """Every process type of the Procfile and its argv, as written."""
    found: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, command = line.split(":", 1)
            found[name.strip()] = shlex.split(command)
    return found


def argv(process: str, *options: str) -> list[str]:
    """The command of `process` for this virtualenv, with `options` appended."""
    program, *args = commands()[process]
    if program == "celery":
        return [sys.executable, "-m", "celery", *args, *options]
    if program == "backup-worker":
        return [str(VENV_BIN / "backup-worker"), *args, *options]
    return [program, *args, *options]
