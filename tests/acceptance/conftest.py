"""Real worker processes on real Redis and PostgreSQL, talking to the Bot API stand-in."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import pytest
import redis
from celery import Celery
from sqlalchemy import text

from db.session import Database
from standin.server import BotApiStandin
from worker.contract import publish, tasks
from worker.jobs import intake

TOKEN = "123456:ACCEPTANCE-token-ABCdefGHIjklMNOpqrSTUvw"
CHAT = "-1009876543210"
REDIS_DBS = range(2, 16)  # 0 and 1 are the defaults a developer's own worker uses
READY_TIMEOUT = 60  # seconds
ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


@dataclass
class WorkerProcess:
    """A `celery worker` subprocess and its log."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str]
    spool: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Stack:
    """Everything a backup test touches."""

    standin: BotApiStandin
    database: Database
    client: Celery
    source_db: str
    tmp: Path
    workers: list[WorkerProcess] = field(default_factory=list)

    broker_db: int = 0

    def env(self, **overrides: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("TELEGRAM_", "BACKUP_", "PACER_"))
        }
        env.update(
            DATABASE_URL=str(self.database.engine.url.render_as_string(hide_password=False)),
            SOURCE_DATABASE_URL="postgresql://postgres@127.0.0.1:5432/postgres",
            CELERY_BROKER_URL=f"redis://127.0.0.1:6379/{self.broker_db}",
            CELERY_RESULT_BACKEND=f"redis://127.0.0.1:6379/{self.broker_db}",
            TELEGRAM_API_URL=self.standin.url,
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_CHAT_ID=CHAT,
            TELEGRAM_MAX_ATTEMPTS="6",
            # The stand-in's uploads are local: their times differ by milliseconds, not the
            # seconds the default margin allows for (docs/fleet.md, "Margins").
            TELEGRAM_PACER_MARGIN="0.2",
            BACKUP_SPOOL_DIR=str(self.tmp / "spool"),
        )
        env.update(overrides)
        return env

    def start_worker(
        self,
        concurrency: int = 2,
        name: str | None = None,
        queues: str | None = None,
        **overrides: str,
    ) -> WorkerProcess:
        """A worker subprocess, ready; `name` fixes its node name (a restart keeps its queue).

        No -P: the tests run the pool the worker ships with (celeryconfig.worker_pool).
        """
        env = self.env(**overrides)
        name = name or f"test-{uuid.uuid4().hex[:8]}"
        log_path = self.tmp / f"{name}-{uuid.uuid4().hex[:6]}.log"
        args = [sys.executable, "-m", "celery", "-A", "worker.app", "worker"]
        args += [f"--concurrency={concurrency}", "-n", f"{name}@%h", "--loglevel=INFO"]
        args += ["--without-gossip", "--without-mingle"]
        args += [] if queues is None else ["-Q", queues]
        with log_path.open("wb") as log:
            proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        worker = WorkerProcess(proc, log_path, env, Path(env["BACKUP_SPOOL_DIR"]))
        self.workers.append(worker)
        deadline = time.monotonic() + READY_TIMEOUT
        while "ready." not in worker.log():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker did not start:\n{worker.log()}")
            time.sleep(0.1)
        return worker

    @property
    def publisher(self) -> publish.Publisher:
        """Publishes as the api-gateway does, on this stack's broker."""
        return publish.Publisher(self.client.send_task)

    def send(self, *, task_id: str | None = None, **kwargs: object) -> str:
        """Enqueue backups.create as the api-gateway does; returns the job id."""
        message = tasks.CreateBackup.from_kwargs(kwargs)
        sent = self.publisher.send(message, task_id=task_id)
        return str(message.job_id or intake.job_id_for_task(sent))

    def count_backups(self, job_id: str) -> int:
        """How many backups rows this job has (the duplicate guard says at most one)."""
        with self.database.engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT count(*) FROM control_plane.backups WHERE job_id = :id"),
                    {"id": job_id},
                ).scalar_one()
            )

    def wait_job(self, job_id: str, timeout: float = 120) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = job_row(self.database, job_id)
            if row is not None and row["status"] in ("completed", "failed", "cancelled"):
                return row
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} did not finish: {job_row(self.database, job_id)}")


def job_row(database: Database, job_id: str) -> dict[str, object] | None:
    """The jobs row as a dict, read straight from the table."""
    with database.engine.connect() as conn:
        from sqlalchemy import text

        row = (
            conn.execute(text("SELECT * FROM control_plane.jobs WHERE id = :id"), {"id": job_id})
            .mappings()
            .first()
        )
        return None if row is None else dict(row)


def make_source_database(name: str, rows: int = 20000) -> None:
    """A small database with several kinds of objects to dump."""
    admin = psycopg2.connect(ADMIN_DSN)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    conn = psycopg2.connect(f"host=127.0.0.1 port=5432 user=postgres dbname={name}")
    with conn, conn.cursor() as cur:
        cur.execute(
            """
            CREATE TABLE items (id serial PRIMARY KEY, label text, data jsonb);
            INSERT INTO items (label, data)
                SELECT 'item ' || i || ' – naïve', jsonb_build_object('n', i, 'h', md5(i::text))
                FROM generate_series(1, %s) AS i;
            CREATE VIEW recent AS SELECT * FROM items WHERE id > 10;
            """,
            (rows,),
        )
    conn.close()


def drop_database(name: str) -> None:
    admin = psycopg2.connect(ADMIN_DSN)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="session")
def source_db() -> Iterator[str]:
    name = f"bw_src_{uuid.uuid4().hex[:8]}"
    make_source_database(name)
    yield name
    drop_database(name)


@pytest.fixture(scope="session")
def redis_db() -> Iterator[int]:
    """A Redis database of our own: test runs may overlap on one machine."""
    lock = redis.Redis(host="127.0.0.1", port=6379, db=0)
    token = uuid.uuid4().hex
    for number in REDIS_DBS:
        if lock.set(f"backup-worker-tests:db:{number}", token, nx=True, ex=3600):
            break
    else:
        raise AssertionError("every Redis test database is taken by another test run")
    yield number
    if lock.get(f"backup-worker-tests:db:{number}") == token.encode():
        lock.delete(f"backup-worker-tests:db:{number}")
    lock.close()


@pytest.fixture
def stack(control_db_url: str, source_db: str, redis_db: int, tmp_path: Path) -> Iterator[Stack]:
    redis.Redis(host="127.0.0.1", port=6379, db=redis_db).flushdb()
    database = Database(control_db_url)
    client = Celery("gateway-test", broker=f"redis://127.0.0.1:6379/{redis_db}")
    client.conf.broker_connection_retry_on_startup = True
    with BotApiStandin(tokens=[TOKEN], chats=[int(CHAT)], data_dir=tmp_path / "standin") as server:
        built = Stack(server, database, client, source_db, tmp_path, broker_db=redis_db)
        try:
            yield built
        finally:
            for worker in built.workers:
                worker.stop()
            client.close()
            with database.engine.begin() as conn:
                from sqlalchemy import text

                conn.execute(
                    text(
                        "TRUNCATE control_plane.backup_parts, control_plane.backups, "
                        "control_plane.jobs CASCADE"
                    )
                )
            database.dispose()


StackFactory = Callable[..., WorkerProcess]
