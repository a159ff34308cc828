"""A bad SOURCE_SERVERS_FILE stops the Procfile's worker at start, naming the server and the key."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.acceptance.conftest import Stack
from tests.support import procfile

START_TIMEOUT = 90  # seconds: the worker imports its tasks, then checks the registry


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ('url = "postgresql://u@127.0.0.1:26399/postgres"\nmax_dumps = 0', "max_dumps: must be"),
        (
            'url = "postgresql://u@127.0.0.1:26399/postgres"\npassword_file = "/nonexistent/pw"',
            "password_file: cannot read /nonexistent/pw",
        ),
        ('url = "postgresql://u@127.0.0.1:26399/postgres"\npasword_file = "/x"', "unknown key"),
    ],
)
@pytest.mark.timeout(START_TIMEOUT + 30)
def test_a_bad_servers_file_stops_the_worker_naming_server_and_key(
    stack: Stack, tmp_path: Path, table: str, says: str
) -> None:
    path = tmp_path / "servers.toml"
    path.write_text(
        f'[servers.ok]\nurl = "postgresql://u@127.0.0.1/postgres"\n\n[servers.eu1]\n{table}\n'
    )
    done = subprocess.run(
        procfile.argv("worker", "-n", "startup-check@%h"),
        env=stack.env(SOURCE_SERVERS_FILE=str(path)),
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-2000:]
    assert f"backup-worker: cannot start: {path}: [servers.eu1]" in output, output[-2000:]
    assert says in output
    assert "ready." not in output  # it never took a task
