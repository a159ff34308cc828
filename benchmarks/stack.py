"""What a benchmark runs against: the Bot API stand-in and a Celery worker as subprocesses, a
scratch control-plane database, a Redis database of its own, and a client that enqueues as the
gateway does."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis
from celery import Celery
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from db import migrate
from db import session as db_session
from worker import settings
from worker.contract import publish, request
from worker.jobs import intake, runtime

TOKEN = "424242:benchmark-token-not-a-real-bot-000000"  # noqa: S105 - stand-in only
CHAT = "-1004242424242"
ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
REDIS_DBS = range(2, 16)  # the same pool and lock keys as the test suite's, so runs never mix
REDIS_LOCK = "backup-worker-tests:db:{}"
START_TIMEOUT = 60  # seconds for the worker or the stand-in to come up
FINISHED = ("completed", "failed", "cancelled")
_TASK_DONE = re.compile(r"Task (backups\.\w+)\[([0-9a-f-]+)\] succeeded in ([0-9.e-]+)s")


@dataclass
class Standin:
    """`python -m standin` as a child process."""

    process: subprocess.Popen[str]
    url: str

    def send_document_url(self) -> str:
        """The sendDocument endpoint of the benchmark bot."""
        return f"{self.url}/bot{TOKEN}/sendDocument"


@contextlib.contextmanager
def standin(data_dir: Path) -> Iterator[Standin]:
    """The stand-in on a free port, storing uploads under `data_dir`."""
    args = [sys.executable, "-m", "standin", "--port", "0", "--token", TOKEN, "--chat", CHAT]
    args += ["--data-dir", str(data_dir)]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline().strip()
        if not banner.startswith("standin listening on "):
            raise RuntimeError(f"the stand-in did not start: {banner!r}")
        yield Standin(process, banner.removeprefix("standin listening on "))
    finally:
        _stop(process)


@contextlib.contextmanager
def control_database() -> Iterator[str]:
    """A fresh control-plane database migrated to head; dropped afterwards."""
    admin_url = make_url(os.environ.get("BENCH_ADMIN_DATABASE_URL", ADMIN_URL))
    name = f"bwbench_control_{secrets.token_hex(4)}"
    admin = create_engine(admin_url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = admin_url.set(database=name).render_as_string(hide_password=False)
        migrate.upgrade(url)
        _count_job_writes(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# Every INSERT or UPDATE of a jobs row is logged, so a benchmark can count the writes one job
# made (the hot path must not write per chunk). The table lives in the scratch database only.
_WRITE_LOG = """
CREATE TABLE public.bench_job_writes (job_id uuid NOT NULL, at timestamptz NOT NULL);
CREATE FUNCTION public.bench_log_job_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.bench_job_writes VALUES (NEW.id, clock_timestamp());
    RETURN NULL;
END $$;
CREATE TRIGGER bench_log_job_write AFTER INSERT OR UPDATE ON control_plane.jobs
    FOR EACH ROW EXECUTE FUNCTION public.bench_log_job_write();
"""


def _count_job_writes(url: str) -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(_WRITE_LOG)
    finally:
        engine.dispose()


@contextlib.contextmanager
def redis_database() -> Iterator[int]:
    """A Redis database no test run or other benchmark uses meanwhile; emptied first."""
    lock = redis.Redis(host="127.0.0.1", port=6379, db=0)
    token = uuid.uuid4().hex
    for number in REDIS_DBS:
        if lock.set(REDIS_LOCK.format(number), token, nx=True, ex=6 * 3600):
            break
    else:
        raise RuntimeError("every Redis database 2..15 is taken by a test run or benchmark")
    try:
        redis.Redis(host="127.0.0.1", port=6379, db=number).flushdb()
        yield number
    finally:
        if lock.get(REDIS_LOCK.format(number)) == token.encode():
            lock.delete(REDIS_LOCK.format(number))
        lock.close()


@dataclass
class Stack:
    """Everything the worker benchmarks use; `env()` is the worker's environment."""

    standin: Standin
    control_url: str
    redis_db: int
    tmp: Path
    client: Celery = field(init=False)
    rt: runtime.Runtime = field(init=False)

    def __post_init__(self) -> None:
        broker = f"redis://127.0.0.1:6379/{self.redis_db}"
        self.client = Celery("benchmark-gateway", broker=broker)
        self.client.conf.broker_connection_retry_on_startup = True
        config = settings.Settings(
            database_url=self.control_url,
            telegram_chat_id=CHAT,
            telegram_api_url=self.standin.url,
        )
        self.rt = runtime.Runtime(config, db_session.Database(self.control_url))

    def env(self, **overrides: str) -> dict[str, str]:
        """The worker's environment: this stack's services, and `overrides`."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "BACKUP_"))}
        env.update(
            DATABASE_URL=self.control_url,
            CELERY_BROKER_URL=f"redis://127.0.0.1:6379/{self.redis_db}",
            CELERY_RESULT_BACKEND=f"redis://127.0.0.1:6379/{self.redis_db}",
            TELEGRAM_API_URL=self.standin.url,
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_CHAT_ID=CHAT,
            BACKUP_SPOOL_DIR=str(self.tmp / "spool"),
        )
        env.update(overrides)
        return env

    def enqueue(self, project_id: str, database: str) -> uuid.UUID:
        """Insert the pending job and send backups.create, as the gateway does."""
        req = request.validate(project_id, database, None, None, None)
        return intake.enqueue(self.rt, req, publish.Publisher(self.client.send_task))

    def job(self, job_id: uuid.UUID) -> dict[str, object]:
        """The jobs row, straight from the table."""
        with self.rt.database.engine.connect() as conn:
            row = conn.execute(
                text("SELECT * FROM control_plane.jobs WHERE id = :id"), {"id": job_id}
            ).mappings()
            return dict(row.one())

    def job_writes(self, job_ids: list[uuid.UUID] | None = None) -> dict[uuid.UUID, int]:
        """How many times each job's row was inserted or updated (every job when None)."""
        query = "SELECT job_id, count(*) FROM public.bench_job_writes"
        params: dict[str, object] = {}
        if job_ids is not None:
            query += " WHERE job_id = ANY(CAST(:ids AS uuid[]))"
            params["ids"] = [str(job_id) for job_id in job_ids]
        with self.rt.database.engine.connect() as conn:
            rows = conn.execute(text(query + " GROUP BY job_id"), params).all()
        return {uuid.UUID(str(job_id)): int(count) for job_id, count in rows}

    def close(self) -> None:
        """Release the client and the pool."""
        self.client.close()
        self.rt.database.dispose()


@contextlib.contextmanager
def stack() -> Iterator[Stack]:
    """Stand-in, control database and Redis database, for the length of a benchmark."""
    with (
        tempfile.TemporaryDirectory(prefix="bwbench-") as tmp,
        standin(Path(tmp) / "standin") as server,
        control_database() as url,
        redis_database() as number,
    ):
        built = Stack(server, url, number, Path(tmp))
        try:
            yield built
        finally:
            built.close()


@dataclass
class Worker:
    """A `celery -A worker.app worker` subprocess and its log."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """Everything the worker logged so far."""
        return self.log_path.read_text(errors="replace")

    def mark(self) -> int:
        """The log's length now, for task_seconds(since=...)."""
        return len(self.log())

    def task_seconds(self, since: int = 0) -> dict[str, list[float]]:
        """Run time of each task finished since `mark`, by task name, from Celery's log lines."""
        found: dict[str, list[float]] = {}
        for name, _task_id, seconds in _TASK_DONE.findall(self.log()[since:]):
            found.setdefault(name, []).append(float(seconds))
        return found


@contextlib.contextmanager
def worker(
    bench: Stack,
    *,
    concurrency: int,
    pool: str | None = None,
    queues: str | None = None,
    **overrides: str,
) -> Iterator[Worker]:
    """A worker on the stack, ready to consume; stopped (warm shutdown) afterwards.

    By default the worker runs the pool it ships with (celeryconfig.worker_pool), so the figures
    are the deployed worker's. `pool` is a -P value, for comparisons; prefork is "processes",
    because Celery reads `-P prefork` as its own default and takes worker_pool instead.
    """
    name = f"bench-{uuid.uuid4().hex[:8]}"
    log_path = bench.tmp / f"{name}.log"
    args = [sys.executable, "-m", "celery", "-A", "worker.app", "worker"]
    args += ["-P", pool] if pool is not None else []
    args += [f"--concurrency={concurrency}", "-n", f"{name}@%h", "--loglevel=INFO"]
    args += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    args += ["-Q", queues] if queues is not None else []
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            args, env=bench.env(**overrides), stdout=log, stderr=subprocess.STDOUT
        )
    running = Worker(process, log_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while "ready." not in running.log():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start:\n{running.log()[-3000:]}")
            time.sleep(0.05)
        yield running
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()
