"""`backup-worker status` run as the operator runs it, against real PostgreSQL and Redis."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import redis

from db import session
from tests.integration.metrics import rows

BACKUP_WORKER = Path(sys.executable).parent / "backup-worker"


def run(database: session.Database, redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "BACKUP_"))}
    env.update(
        DATABASE_URL=database.engine.url.render_as_string(hide_password=False),
        CELERY_BROKER_URL=redis_url,
        COLUMNS="160",
    )
    return subprocess.run(
        [str(BACKUP_WORKER), "status", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_json_lists_failing_then_overdue_then_the_rest_with_stable_keys(
    database: session.Database, redis_url: str, redis_client: redis.Redis
) -> None:
    rows.fleet(database)
    redis_client.lpush("celery", "m1", "m2")
    done = run(database, redis_url, "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert sorted(payload) == ["now", "projects", "queues", "unreadable", "wal"]
    order = [(p["project_id"], p["state"]) for p in payload["projects"]]
    assert order == [
        ("proj-failing", "failing"),
        ("proj-late", "overdue"),
        ("proj-new", "ok"),
        ("proj-ok", "ok"),
        ("proj-adhoc", "unscheduled"),
    ]
    ok = next(p for p in payload["projects"] if p["project_id"] == "proj-ok")
    assert sorted(ok) == [
        "age_seconds",
        "database",
        "drill_status",
        "drilled_at",
        "lag_seconds",
        "last_backup_at",
        "last_error",
        "last_job_status",
        "next_run_at",
        "period_seconds",
        "project_id",
        "size_bytes",
        "state",
    ]
    assert 590 <= ok["age_seconds"] <= 700
    assert (ok["size_bytes"], ok["period_seconds"], ok["lag_seconds"]) == (12345, 3600, 0.0)
    late = next(p for p in payload["projects"] if p["project_id"] == "proj-late")
    assert 7150 <= late["lag_seconds"] <= 7300
    assert payload["queues"] == {"celery": 2}
    assert payload["unreadable"] == []


def test_the_screen_shows_each_project_and_the_queues(
    database: session.Database, redis_url: str
) -> None:
    rows.fleet(database)
    done = run(database, redis_url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    failing = next(i for i, line in enumerate(lines) if "proj-failing" in line)
    late = next(i for i, line in enumerate(lines) if "proj-late" in line)
    adhoc = next(i for i, line in enumerate(lines) if "proj-adhoc" in line)
    assert failing < late < adhoc
    assert "overdue" in lines[late]
    # Late by about two hours (7150 to 7300 s), in worker/cli/human.py's words.
    assert re.search(r"│ (1 h 59 min|2 h|2 h 1 min) +│", lines[late]), lines[late]
    assert any("celery" in line and "0" in line for line in lines)


def test_nagios_exits_critical_for_a_failing_project_and_names_it(
    database: session.Database, redis_url: str
) -> None:
    rows.fleet(database)
    done = run(database, redis_url, "--nagios")
    assert done.returncode == 2, done.stderr
    (line,) = done.stdout.splitlines()
    assert line.startswith("BACKUP-WORKER CRITICAL - 1 failing (proj-failing/")
    assert "1 overdue (proj-late/" in line
    assert line.endswith("| failing=1 overdue=1 ok=2 unscheduled=1 queued=0")
    plain = run(database, redis_url)  # without --nagios the exit status stays 0
    assert plain.returncode == 0


def test_nagios_is_ok_for_an_empty_fleet_and_unknown_without_the_database(
    database: session.Database, redis_url: str
) -> None:
    done = run(database, redis_url, "--nagios")
    assert (done.returncode, done.stdout.split(" |")[0]) == (0, "BACKUP-WORKER OK - 0 projects")
    gone = session.Database("postgresql+psycopg2://postgres@127.0.0.1:1/none")
    down = run(gone, redis_url, "--nagios")
    assert down.returncode == 3, down.stdout + down.stderr
    assert down.stdout.startswith("BACKUP-WORKER UNKNOWN - cannot read the control plane")


def test_a_redis_that_never_answers_is_a_warning_not_a_hang(database: session.Database) -> None:
    # Bounded by redis-py's own default (5 s per reply in redis-py 8): this pins it.
    rows.fleet(database)
    with socket.socket() as silent:  # accepts (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        started = time.monotonic()
        done = run(database, f"redis://127.0.0.1:{silent.getsockname()[1]}/0", "--nagios")
    assert time.monotonic() - started < 30
    assert done.returncode == 2  # the failing project still counts; Redis adds a warning
    assert "cannot read redis" in done.stdout
