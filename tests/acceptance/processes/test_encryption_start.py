"""Encryption is on by default: the Procfile's worker refuses to start without age recipients
unless BACKUP_ENCRYPTION=off says so, and then warns in its log."""

from __future__ import annotations

import subprocess

import pytest
from pyrage import x25519
from sqlalchemy import text

from tests.acceptance.conftest import Stack
from tests.acceptance.processes.test_cli import run
from tests.support import procfile
from worker.cli import common

START_TIMEOUT = 90  # seconds: the worker imports its tasks, then checks its settings
WARNING = "BACKUP_ENCRYPTION=off: backups go to Telegram unencrypted"


@pytest.mark.timeout(START_TIMEOUT + 30)
def test_without_recipients_the_worker_refuses_to_start_in_one_line(stack: Stack) -> None:
    env = stack.env()
    del env["BACKUP_ENCRYPTION"]  # the harness says off; an operator who says nothing
    done = subprocess.run(
        procfile.argv("worker", "-n", "no-recipients@%h"),
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-2000:]
    refusal = [line for line in output.splitlines() if "cannot start" in line]
    assert refusal == [
        "backup-worker: cannot start: BACKUP_AGE_RECIPIENTS is not set: set it to an age public "
        "key (age1...), or BACKUP_ENCRYPTION=off to send backups unencrypted"
    ], output[-2000:]
    assert "ready." not in output  # it never took a task


def test_off_starts_and_says_so_and_recipients_start_quietly(stack: Stack) -> None:
    plain = stack.start_worker("-n", "plain@%h")
    assert plain.env["BACKUP_ENCRYPTION"] == "off"
    assert WARNING in plain.log()
    plain.stop()
    recipient = str(x25519.Identity.generate().to_public())
    encrypted = stack.start_worker("-n", "encrypted@%h", BACKUP_AGE_RECIPIENTS=recipient)
    assert "BACKUP_ENCRYPTION" not in encrypted.env
    assert encrypted.alive()
    assert "unencrypted" not in encrypted.log()


@pytest.mark.parametrize(
    "args",
    [("backup", "--project", "p-plain", "--database", "db"), ("send", "-", "--project", "p-plain")],
)
def test_a_backup_or_send_from_the_cli_without_recipients_is_refused_before_anything(
    stack: Stack, args: tuple[str, ...]
) -> None:
    env = stack.env()
    del env["BACKUP_ENCRYPTION"]
    done = run(env, *args, stdin=b"a file that must not leave in clear")
    assert done.returncode == common.EXIT_ERROR
    assert done.stderr.decode().splitlines() == [
        "error: BACKUP_AGE_RECIPIENTS is not set: set it to an age public key (age1...), "
        "or BACKUP_ENCRYPTION=off to send backups unencrypted"
    ]
    assert stack.standin.messages() == []
    with stack.database.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM control_plane.jobs")).scalar_one() == 0
