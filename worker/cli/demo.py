"""`backup-worker demo`: one real backup, end to end, on this machine.

Migrates the control-plane database, starts a Celery worker process, creates a sample database
when none is named, and backs it up to the chat in TELEGRAM_* or, without a bot token, to the
local Bot API stand-in (standin/), then shows the recorded result.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import psycopg2
from psycopg2.extensions import make_dsn
from rich.console import Console

from db import migrate
from worker import settings
from worker.cli import common, follow
from worker.cli.commands import backup as backup_command
from worker.contract import request
from worker.postgres import source

DEMO_DIR = Path(".demo")
SAMPLE_DATABASE = "backup_worker_sample"
STANDIN_TOKEN = "100000:demo-token-not-a-real-bot-0000000000"  # noqa: S105 - stand-in only
STANDIN_CHAT = "-1001000000001"
START_TIMEOUT = 60  # seconds for the worker or the stand-in to come up
JOB_TIMEOUT = 900  # seconds


@contextmanager
def _process(args: list[str], log_name: str) -> Iterator[subprocess.Popen[bytes]]:
    DEMO_DIR.mkdir(exist_ok=True)
    with (DEMO_DIR / log_name).open("wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_for_line(path: Path, marker: str, proc: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{path} process exited early; see {path}")
        for line in path.read_text(errors="replace").splitlines():
            if marker in line:
                return line
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {marker!r} in {path}")


def _sample_database(console: Console) -> str:
    """Create (once) a sample database of a few MB with several kinds of data."""
    params = source.SourceParams.from_url(settings.current().source_database_url.get_secret_value())
    if source.database_exists(params, SAMPLE_DATABASE):
        return SAMPLE_DATABASE
    console.print(f"creating sample database {SAMPLE_DATABASE}")
    admin = psycopg2.connect(make_dsn(params.conninfo(), **params.password_kw()))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{SAMPLE_DATABASE}"')
    admin.close()
    conn = psycopg2.connect(make_dsn(params.conninfo(SAMPLE_DATABASE), **params.password_kw()))
    with conn, conn.cursor() as cur:
        cur.execute(
            """
            CREATE TABLE customers (id bigserial PRIMARY KEY, name text NOT NULL,
                email text UNIQUE, created_at timestamptz DEFAULT now());
            CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint REFERENCES customers,
                total numeric(12, 2), items jsonb, note text);
            CREATE INDEX ON orders (customer_id);
            INSERT INTO customers (name, email)
                SELECT 'Customer ' || i || ' Ærøskøbing', 'c' || i || '@example.org'
                FROM generate_series(1, 50000) AS i;
            INSERT INTO orders (customer_id, total, items, note)
                SELECT 1 + (i % 50000), round((random() * 1000)::numeric, 2),
                    jsonb_build_object('sku', md5(i::text), 'qty', i % 7),
                    repeat(md5(random()::text), 4)
                FROM generate_series(1, 200000) AS i;
            """
        )
    conn.close()
    return SAMPLE_DATABASE


def run(*, database: str | None, project_id: str, console: Console) -> int:
    """Run the demo; returns the exit status."""
    config = settings.current()
    with _standin_if_needed(config, console):
        settings.current.cache_clear()
        migrate.upgrade(settings.current().database_url)
        name = database or _sample_database(console)
        req = request.validate(project_id, name)
        node = f"demo-{os.getpid()}@%h"
        worker_args = [sys.executable, "-m", "celery", "-A", "worker.app", "worker"]
        worker_args += ["--loglevel=INFO", "-n", node]
        with _process(worker_args, "worker.log") as proc:
            _wait_for_line(DEMO_DIR / "worker.log", "ready.", proc)
            console.print(f"worker started (log: {DEMO_DIR / 'worker.log'})")
            job_id = backup_command.enqueue(common.build_runtime(), req)
            console.print(f"backup of {name} enqueued as job {job_id}")
            state = follow.wait(
                common.build_runtime().database, job_id, console=console, timeout=JOB_TIMEOUT
            )
        if state is None:
            return common.EXIT_ERROR
        common.out.print_json(data=common.summary(job_id, state, "backup"), default=str)
        if state["status"] != "completed":
            console.print(f"[red]backup {state['status']}:[/red] {state['error']}")
            return common.EXIT_FAILED
        console.print("[green]backup completed[/green]: `backup-worker backups list` shows it")
        return 0


@click.command()
@click.option("--database", default=None, help="database to back up; default: a sample one")
@click.option("--project", "project_id", default="demo-project")
@common.guard
def demo(database: str | None, project_id: str) -> None:
    """One real backup end to end: migrate, start a worker, back up, show the result."""
    sys.exit(run(database=database, project_id=project_id, console=common.err))


@contextmanager
def _standin_if_needed(config: settings.Settings, console: Console) -> Iterator[None]:
    if config.telegram_bot_token is not None:
        console.print(f"sending to chat {config.telegram_chat_id} via {config.telegram_api_url}")
        yield
        return
    console.print(
        "[yellow]TELEGRAM_BOT_TOKEN is not set: using the local Bot API stand-in; "
        "nothing leaves this machine[/yellow]"
    )
    args = [sys.executable, "-m", "standin", "--port", "0", "--token", STANDIN_TOKEN]
    args += ["--chat", STANDIN_CHAT, "--data-dir", str(DEMO_DIR / "standin")]
    with _process(args, "standin.log") as proc:
        line = _wait_for_line(DEMO_DIR / "standin.log", "listening on", proc)
        url = line.rsplit(" ", 1)[-1].strip()
        # The worker subprocess and the settings read below both take these from the
        # environment; the demo process ends right after, so nothing needs restoring.
        os.environ.update(
            TELEGRAM_API_URL=url, TELEGRAM_BOT_TOKEN=STANDIN_TOKEN, TELEGRAM_CHAT_ID=STANDIN_CHAT
        )
        console.print(f"stand-in listening on {url}, chat {STANDIN_CHAT}")
        yield
