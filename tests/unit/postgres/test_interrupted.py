"""Which pg_dump failures count as interrupted (worth another attempt)."""

from __future__ import annotations

import signal

import pytest

from worker.postgres import dump

LOST = [
    'pg_dump: error: Dumping the contents of table "items" failed: PQgetResult() failed.\n'
    "pg_dump: detail: Error message from server: server closed the connection unexpectedly",
    "pg_dump: error: query failed: FATAL:  terminating connection due to administrator command",
    'pg_dump: error: connection to server at "10.0.0.5", port 5432 failed: Connection refused',
    "pg_dump: error: connection to server failed: FATAL:  the database system is starting up",
    "pg_dump: error: query failed: SSL SYSCALL error: EOF detected",
]
FOR_GOOD = [
    "pg_dump: error: connection to server failed: FATAL:  password authentication failed"
    ' for user "a"',
    'pg_dump: error: connection to server failed: FATAL:  database "nope" does not exist',
    "pg_dump: error: query failed: ERROR:  permission denied for table secrets",
]


@pytest.mark.parametrize("stderr", LOST)
def test_a_lost_server_is_an_interruption(stderr: str) -> None:
    assert dump.interrupted(1, stderr)


@pytest.mark.parametrize("stderr", FOR_GOOD)
def test_a_refusal_is_not(stderr: str) -> None:
    assert not dump.interrupted(1, stderr)


def test_a_kill_from_outside_is_an_interruption_but_our_own_sigpipe_is_not() -> None:
    assert dump.interrupted(-signal.SIGKILL, "")
    assert dump.interrupted(-signal.SIGTERM, "")
    assert not dump.interrupted(-signal.SIGPIPE, "")
