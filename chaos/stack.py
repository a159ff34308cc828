"""The chaos run's own world: PostgreSQL, Redis, a small spool, the Bot API stand-in, secrets."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
from celery import Celery
from pyrage import x25519

from chaos import services, spool
from chaos import workers as procs
from db import migrate
from db.session import Database
from standin.server import BotApiStandin
from worker import settings
from worker.contract import publish, request
from worker.jobs import intake, runtime

CHAT = -1001234567890
SOURCE_ROLE = "chaos_src"


@dataclass
class Options:
    """Where the throwaway services listen and how big things are."""

    # Below the kernel's ephemeral range (32768-60999): a port up there can be held by any
    # outgoing connection's TIME-WAIT, and the throwaway cluster then fails to start.
    pg_port: int = 25432
    redis_port: int = 6390
    spool_mb: int = 30
    databases: int = 4
    rows: int = 4000
    part_size: int = 262144
    heartbeat_stale: int = 30
    max_attempts: int = 5
    spool_retry_delay: int = 5  # seconds: a dump that found the spool full runs again soon
    work_dir: Path | None = None


@dataclass
class ChaosStack:
    """Everything the run starts; `close()` stops and removes it all."""

    options: Options
    root: Path = field(init=False)
    pg: services.PostgresCluster = field(init=False)
    redis: services.RedisServer = field(init=False)
    spool: spool.SmallSpool = field(init=False)
    standin: BotApiStandin = field(init=False)
    database: Database = field(init=False)
    client: Celery = field(init=False)
    token: str = field(default_factory=lambda: f"654321:CHAOS-{secrets.token_hex(12)}")
    password: str = field(default_factory=lambda: "pw-" + secrets.token_hex(12))
    identity: str = ""
    sources: list[str] = field(default_factory=list)
    workers: list[procs.Worker] = field(default_factory=list)
    dead: list[procs.Worker] = field(default_factory=list)

    def open(self) -> ChaosStack:
        opts = self.options
        self.root = Path(opts.work_dir or tempfile.mkdtemp(prefix="chaos-"))
        self.root.chmod(0o755)  # mkdtemp makes it 0700: the postgres user must get in
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        self.pg = services.PostgresCluster(self.root / "pg", opts.pg_port)
        self.pg.init()
        self.pg.start()
        self._databases()
        self.redis = services.RedisServer(self.root / "redis", opts.redis_port)
        self.redis.start()
        self.spool = spool.SmallSpool(self.root / "spool", opts.spool_mb)
        self.spool.create()
        key = x25519.Identity.generate()
        self.identity = str(key)
        (self.root / "age.key").write_text(self.identity + "\n")
        self.recipient = str(key.to_public())
        self.standin = BotApiStandin(
            tokens=[self.token], chats=[CHAT], data_dir=self.root / "standin"
        ).start()
        self.database = Database(self.control_url)
        self.client = Celery("chaos-gateway", broker=self.redis.url(0))
        self.client.conf.broker_connection_retry_on_startup = True
        return self

    @property
    def control_url(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.options.pg_port}/control"

    def _databases(self) -> None:
        admin = psycopg2.connect(self.pg.dsn())
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f"CREATE ROLE {SOURCE_ROLE} LOGIN CREATEDB PASSWORD %s", (self.password,))
            cur.execute("CREATE DATABASE control")
            for index in range(self.options.databases):
                name = f"chaos_src_{index}"
                cur.execute(f"CREATE DATABASE {name} OWNER {SOURCE_ROLE}")
                self.sources.append(name)
        admin.close()
        migrate.upgrade(self.control_url)
        for index, name in enumerate(self.sources):
            conn = psycopg2.connect(
                host="127.0.0.1",
                port=self.options.pg_port,
                user=SOURCE_ROLE,
                password=self.password,
                dbname=name,
            )
            with conn, conn.cursor() as cur:
                cur.execute(
                    "CREATE TABLE items (id serial PRIMARY KEY, label text, data jsonb);"
                    " INSERT INTO items (label, data) SELECT 'item ' || i || ' db ' || %s,"
                    " jsonb_build_object('n', i, 'h', md5(i::text))"
                    " FROM generate_series(1, %s) AS i;",
                    (index, self.options.rows * (index + 1)),
                )
            conn.close()

    def env(self, **overrides: str) -> dict[str, str]:
        """The worker's environment: every secret the leak scan looks for is in it."""
        import os

        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "BACKUP_"))}
        env.update(
            DATABASE_URL=self.control_url,
            SOURCE_DATABASE_URL=(
                f"postgresql://{SOURCE_ROLE}:{self.password}@127.0.0.1:{self.options.pg_port}"
                "/postgres"
            ),
            CELERY_BROKER_URL=self.redis.url(0),
            CELERY_RESULT_BACKEND=self.redis.url(1),
            TELEGRAM_API_URL=self.standin.url,
            TELEGRAM_BOT_TOKEN=self.token,
            TELEGRAM_CHAT_ID=str(CHAT),
            TELEGRAM_MAX_ATTEMPTS="10",
            TELEGRAM_UPLOAD_TIMEOUT="30",
            BACKUP_SPOOL_DIR=str(self.spool.path),
            BACKUP_PART_SIZE=str(self.options.part_size),
            BACKUP_AGE_RECIPIENTS=self.recipient,
            BACKUP_AGE_IDENTITY_FILE=str(self.root / "age.key"),
            BACKUP_MAX_ATTEMPTS=str(self.options.max_attempts),
            JOB_HEARTBEAT_STALE=str(self.options.heartbeat_stale),
            BACKUP_SPOOL_RETRY_DELAY=str(self.options.spool_retry_delay),
            PYTHONUNBUFFERED="1",
        )
        env.update(overrides)
        return env

    def start_worker(self, concurrency: int = 2) -> procs.Worker:
        worker = procs.start_worker(self.env(), self.root / "logs", concurrency=concurrency)
        self.workers.append(worker)
        return worker

    def enqueue(self, project_id: str, database: str) -> str:
        """Insert the pending row with its arguments, then send backups.create (the CLI's way)."""
        config = settings.Settings(
            _env_file=None, database_url=self.control_url, telegram_chat_id=str(CHAT)
        )
        rt = runtime.Runtime(settings=config, database=self.database)
        req = request.BackupRequest(project_id, database)
        return str(intake.enqueue(rt, req, publish.Publisher(self.client.send_task)))

    def logs(self) -> list[Path]:
        return sorted((self.root / "logs").glob("*.log"))

    def secrets(self) -> dict[str, str]:
        return {
            "bot token": self.token,
            "bot token secret half": self.token.split(":", 1)[1],
            "source password": self.password,
            "age identity": self.identity,
        }

    def close(self, keep: bool = False) -> None:
        for worker in self.workers:
            worker.stop(timeout=20)
        self.client.close()
        self.standin.stop()
        self.database.dispose()
        self.redis.stop()
        self.pg.destroy()
        self.spool.destroy()
        if not keep:
            shutil.rmtree(self.root, ignore_errors=True)
