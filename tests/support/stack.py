"""A stack: the Bot API stand-in, a control-plane database and a broker, the Procfile's
processes started on them (`workers`), and a client that enqueues as the api-gateway does.

The acceptance tests build one per test on the shared servers, the benchmarks one per run
(`on_shared_servers`), the chaos run one on its throwaway servers (chaos/stack.py).
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from celery import Celery
from sqlalchemy import text

from db.session import Database
from tests.support import scratch, sources
from tests.support import workers as procs
from worker import settings
from worker.contract import publish, request, tasks
from worker.jobs import intake, runtime

FINISHED = ("completed", "failed", "cancelled")
WAIT_POLL = 0.1  # seconds between two reads of a jobs row


class Standin(Protocol):
    """What a stack needs of the stand-in, in process or as a child process: its URL."""

    @property
    def url(self) -> str: ...


S = TypeVar("S", bound=Standin)


@dataclass(kw_only=True)
class Stack(Generic[S]):
    """Everything a run touches; `env()` is the environment of every process it starts."""

    standin: S
    control_url: str
    broker_url: str
    result_url: str = ""  # the broker's URL when empty
    source_url: str = sources.SOURCE_URL
    source_db: str = ""  # the database a test backs up when it names none
    token: str
    chat: str
    tmp: Path  # logs and the spool
    settings: dict[str, str] = field(default_factory=dict)  # more environment, for every process
    workers: list[procs.Process] = field(default_factory=list)
    others: list[procs.Process] = field(default_factory=list)  # beat, Flower
    database: Database = field(init=False)
    client: Celery = field(init=False)

    def __post_init__(self) -> None:
        self.database = Database(self.control_url)
        self.client = Celery("gateway", broker=self.broker_url)
        self.client.conf.broker_connection_retry_on_startup = True

    def env(self, **overrides: str) -> dict[str, str]:
        """This stack's services and settings, over the caller's environment, then `overrides`."""
        own = ("TELEGRAM_", "BACKUP_", "PACER_")  # this stack's own, never the caller's
        env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
        env.update(
            DATABASE_URL=self.control_url,
            SOURCE_DATABASE_URL=self.source_url,
            CELERY_BROKER_URL=self.broker_url,
            CELERY_RESULT_BACKEND=self.result_url or self.broker_url,
            TELEGRAM_API_URL=self.standin.url,
            TELEGRAM_BOT_TOKEN=self.token,
            TELEGRAM_CHAT_ID=self.chat,
            BACKUP_SPOOL_DIR=str(self.tmp / "spool"),
        )
        env.update(self.settings)
        env.update(overrides)
        if "BACKUP_AGE_RECIPIENTS" not in env:
            # Said explicitly, as an operator must: the worker refuses to start otherwise.
            env.setdefault("BACKUP_ENCRYPTION", "off")
        return env

    def start_worker(self, *options: str, **env: str) -> procs.Process:
        """The Procfile's worker with `options`, in this stack's environment plus `env`; ready."""
        worker = procs.start("worker", self.env(**env), self.tmp / "logs", *options)
        self.workers.append(worker)
        return worker

    def start_scheduled(self, *options: str, **env: str) -> procs.Process:
        """The Procfile's worker of the dispatcher's queue (`scheduled`) with `options`; ready."""
        worker = procs.start("scheduled", self.env(**env), self.tmp / "logs", *options)
        self.workers.append(worker)
        return worker

    def start_beat(self, *options: str, **env: str) -> procs.Process:
        """The Procfile's beat with `options`; ready."""
        beat = procs.start("beat", self.env(**env), self.tmp / "logs", *options)
        self.others.append(beat)
        return beat

    def start_flower(self, *options: str, **env: str) -> procs.Process:
        """The Procfile's Flower (`env` must hold FLOWER_PORT and FLOWER_BASIC_AUTH); answering."""
        flower = procs.start("flower", self.env(**env), self.tmp / "logs", *options)
        self.others.append(flower)
        return flower

    def logs(self) -> list[Path]:
        """The log of every process started so far."""
        return sorted((self.tmp / "logs").glob("*.log"))

    @property
    def publisher(self) -> publish.Publisher:
        """Publishes as the api-gateway does, on this stack's broker."""
        return publish.Publisher(self.client.send_task)

    def send(self, *, task_id: str | None = None, **kwargs: object) -> str:
        """Send backups.create as the api-gateway does (no row first); returns the job id."""
        message = tasks.CreateBackup.from_kwargs(kwargs)
        sent = self.publisher.send(message, task_id=task_id)
        return str(message.job_id or intake.job_id_for_task(sent))

    def publish(self, message: tasks.Message, *, task_id: str | None = None) -> str:
        """Send any public task's message (no row first); returns the job id it runs under."""
        sent = self.publisher.send(message, task_id=task_id)
        given = getattr(message, "job_id", None)
        return str(given or intake.job_id_for_task(sent))

    def enqueue(self, project_id: str, database: str, server: str | None = None) -> uuid.UUID:
        """Insert the pending row, then send backups.create (the CLI's and scheduler's way);
        `server` None is `default`."""
        req = request.validate(project_id, database, None, None, None, server)
        return intake.enqueue(self.runtime, req, self.publisher)

    @functools.cached_property
    def runtime(self) -> runtime.Runtime:
        """A runtime on the control database, for `enqueue`."""
        config = settings.Settings(
            _env_file=None,
            database_url=self.control_url,
            telegram_chat_id=self.chat,
            telegram_api_url=self.standin.url,
        )
        return runtime.Runtime(settings=config, database=self.database)

    def job(self, job_id: str | uuid.UUID) -> dict[str, object] | None:
        """The jobs row, straight from the table."""
        return job_row(self.database, job_id)

    def wait_job(self, job_id: str | uuid.UUID, timeout: float = 120) -> dict[str, object]:
        """The jobs row once the job has finished; AssertionError after `timeout` seconds."""
        return wait_job(self.database, job_id, timeout)

    def count_backups(self, job_id: str) -> int:
        """How many backups rows this job has (the duplicate guard says at most one)."""
        with self.database.engine.connect() as conn:
            query = text("SELECT count(*) FROM control_plane.backups WHERE job_id = :id")
            return int(conn.execute(query, {"id": job_id}).scalar_one())

    def close(self) -> None:
        """Stop every process (warm shutdown), release the client and the pool."""
        for process in [*self.workers, *self.others]:
            process.stop()
        self.client.close()
        self.database.dispose()


def job_row(database: Database, job_id: str | uuid.UUID) -> dict[str, object] | None:
    """The jobs row as a dict, read straight from the table."""
    with database.engine.connect() as conn:
        query = text("SELECT * FROM control_plane.jobs WHERE id = :id")
        row = conn.execute(query, {"id": str(job_id)}).mappings().first()
        return None if row is None else dict(row)


def age_heartbeat(database: Database, job_id: str | uuid.UUID) -> None:
    """Let time pass for a job whose worker died: its heartbeat an hour old, past
    JOB_HEARTBEAT_STALE, so that the reaper takes it."""
    with database.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE control_plane.jobs SET heartbeat_at = now() - interval '1 hour'"
                " WHERE id = :id"
            ),
            {"id": str(job_id)},
        )


def wait_job(database: Database, job_id: str | uuid.UUID, timeout: float) -> dict[str, object]:
    """Poll the jobs row until the job has finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = job_row(database, job_id)
        if row is not None and row["status"] in FINISHED:
            return row
        time.sleep(WAIT_POLL)
    raise AssertionError(f"job {job_id} did not finish: {job_row(database, job_id)}")


@contextlib.contextmanager
def on_shared_servers(
    standin: S,
    tmp: Path,
    *,
    token: str,
    chat: str,
    prefix: str = "bw_test_",
    prepare: Callable[[str], None] | None = None,
) -> Iterator[Stack[S]]:
    """A stack on a scratch control database (`prepare` runs on its URL after the migrations)
    and a Redis database of its own, on the shared servers; torn down afterwards."""
    with scratch.database(prefix, migrated=True) as url, scratch.redis_database() as number:
        if prepare is not None:
            prepare(url)
        built = Stack(
            standin=standin,
            control_url=url,
            broker_url=scratch.redis_url(number),
            token=token,
            chat=chat,
            tmp=tmp,
        )
        try:
            yield built
        finally:
            built.close()
