"""`backup-worker check --json` as a process, against real PostgreSQL and Redis and the stand-in:
one line per check, the failing one named, and the exit status."""

from __future__ import annotations

import json
import socket
import subprocess
import time

from standin.api import bot_id
from tests.acceptance.conftest import CHAT, TOKEN, Stack
from tests.acceptance.processes.test_cli import run

AGE_RECIPIENT = "age1" + "q" * 58


def checked(stack: Stack, *args: str, **env: str) -> tuple[int, dict[str, object]]:
    (stack.tmp / "spool").mkdir(mode=0o700, exist_ok=True)
    done: subprocess.CompletedProcess[bytes] = run(stack.env(**env), "check", "--json", *args)
    lines = done.stdout.decode().splitlines()
    assert len(lines) == 1, done.stdout.decode() + done.stderr.decode()  # one JSON object
    return done.returncode, json.loads(lines[0])


def statuses(report: dict[str, object]) -> dict[str, str]:
    checks = report["checks"]
    assert isinstance(checks, list)
    return {item["check"]: item["status"] for item in checks}


def failures(report: dict[str, object]) -> list[dict[str, str]]:
    checks = report["checks"]
    assert isinstance(checks, list)
    return [item for item in checks if item["status"] == "fail"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_sound_deployment_passes(stack: Stack) -> None:
    status, report = checked(
        stack, BACKUP_AGE_RECIPIENTS=AGE_RECIPIENT, CATALOG_KEY="k" * 40, TELEGRAM_CHAT_ID=CHAT
    )
    assert status == 0, report
    assert report["status"] in ("ok", "warn")  # the test server's URL is a superuser
    found = statuses(report)
    bot = str(bot_id(TOKEN))
    for name in (
        "broker",
        "control plane",
        "server default",
        "server default: pg_dump",
        "server default: pg_restore",
        f"bot {bot}",
        f"chat {CHAT} (bot {bot})",
        "encryption",
        "catalog key",
        "spool",
    ):
        assert found[name] == "ok", report
    assert TOKEN.split(":")[1] not in json.dumps(report)


def test_a_broker_that_is_down_is_one_failure(stack: Stack) -> None:
    down = f"redis://127.0.0.1:{closed_port()}/0"
    status, report = checked(stack, CELERY_BROKER_URL=down, CELERY_RESULT_BACKEND=down)
    assert status == 1
    (failed,) = failures(report)
    assert failed["check"] == "broker"
    assert "CELERY_BROKER_URL" in failed["fix"]


def test_an_unknown_server_is_one_line_and_exit_2(stack: Stack) -> None:
    status, report = checked(stack, "--server", "nosuch")
    assert status == 2
    assert report["status"] == "error"
    assert "unknown source server 'nosuch'" in str(report["error"])


def test_a_control_plane_not_migrated_names_the_command(stack: Stack, empty_db_url: str) -> None:
    status, report = checked(stack, DATABASE_URL=empty_db_url)
    assert status == 1
    (failed,) = failures(report)
    assert failed["check"] == "control plane"
    assert "backup-worker migrate" in failed["fix"]


def test_a_bot_that_is_no_administrator_fails_naming_the_right(stack: Stack) -> None:
    stack.standin.set_member(int(CHAT), bot_id(TOKEN), "member")
    status, report = checked(stack)
    assert status == 1
    (failed,) = failures(report)
    assert failed["check"] == f"chat {CHAT} (bot {bot_id(TOKEN)})"
    assert "can_delete_messages" in failed["detail"]


def test_people_get_one_line_per_check(stack: Stack) -> None:
    (stack.tmp / "spool").mkdir(mode=0o700, exist_ok=True)
    down = f"redis://127.0.0.1:{closed_port()}/0"
    done = run(stack.env(CELERY_BROKER_URL=down, CELERY_RESULT_BACKEND=down), "check")
    assert done.returncode == 1
    lines = done.stdout.decode().splitlines()
    assert lines[0].startswith("FAIL  broker: cannot connect to redis://127.0.0.1:")
    assert lines[0].endswith("-> is it running, and is CELERY_BROKER_URL right?")
    assert [line.split()[0] for line in lines].count("FAIL") == 1
    assert any(line.startswith("ok    control plane: ") for line in lines)
    warned = run(stack.env(), "check", "--strict")  # the test server's role is a superuser
    assert warned.returncode == 1
    assert "FAIL" not in warned.stdout.decode()


def test_a_server_that_never_answers_does_not_hang_the_check(stack: Stack) -> None:
    with socket.socket() as silent:  # accepts (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        registry = stack.tmp / "servers.toml"
        port = silent.getsockname()[1]
        registry.write_text(f'[servers.slow]\nurl = "postgresql://u@127.0.0.1:{port}/x"\n')
        started = time.monotonic()
        status, report = checked(
            stack, "--server", "slow", "--timeout", "2", SOURCE_SERVERS_FILE=str(registry)
        )
    assert time.monotonic() - started < 20
    assert status == 1
    (failed,) = failures(report)
    assert failed["check"] == "server slow"
    assert "timed out" in failed["detail"]
