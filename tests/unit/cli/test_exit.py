"""The console script (worker.cli.main.run): its quick exit keeps the status and the output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# A command added to the real group, run through `run()` in a fresh interpreter.
SCRIPT = """
import sys, threading, time
import click
from worker.cli import main

@main.main.command("probe")
@click.option("--status", default=0)
@click.option("--lines", default=0)
@click.option("--thread-writes", default=None)
def probe(status, lines, thread_writes):
    for number in range(lines):
        click.echo(f"line {number}")
    if thread_writes:
        def late():
            time.sleep(0.3)
            open(thread_writes, "w").write("written")
        threading.Thread(target=late).start()
    sys.exit(status)

main.run()
"""


def probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, "probe", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize("status", [0, 1, 2, 3])
def test_the_commands_exit_status_is_the_processs(status: int) -> None:
    assert probe(f"--status={status}").returncode == status


def test_buffered_output_is_flushed_before_the_process_ends() -> None:
    done = probe("--lines=20000")
    assert done.returncode == 0
    assert done.stdout.splitlines()[-1] == "line 19999"
    assert len(done.stdout.splitlines()) == 20000


def test_a_thread_still_running_is_waited_for(tmp_path: Path) -> None:
    marker = tmp_path / "late"
    assert probe(f"--thread-writes={marker}").returncode == 0
    assert marker.read_text() == "written"


def test_usage_errors_keep_clicks_status_and_message() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from worker.cli import main; main.run()", "nope"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2
    assert "No such command 'nope'" in done.stderr
