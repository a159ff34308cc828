"""The chaos run's own world: PostgreSQL, Redis, a small spool, the Bot API stand-in, secrets.

A `tests.support.stack.Stack` on throwaway servers (tests.support.services) that the run may
stop and restart at will; the shared servers (5432, 6379) serve other people's tests.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
from pyrage import x25519

from chaos.spool import SmallSpool
from db import migrate
from standin.server import BotApiStandin
from tests.support import services, workers
from tests.support.stack import Stack

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


@dataclass(kw_only=True)
class ChaosStack(Stack[BotApiStandin]):
    """Everything the run starts; `close()` stops and removes it all."""

    options: Options
    pg: services.PostgresCluster
    redis: services.RedisServer
    spool: SmallSpool
    password: str
    identity: str
    sources: list[str]
    dead: list[workers.Process] = field(default_factory=list)

    def secrets(self) -> dict[str, str]:
        """Every secret the leak scan looks for; each is in the workers' environment."""
        return {
            "bot token": self.token,
            "bot token secret half": self.token.split(":", 1)[1],
            "source password": self.password,
            "age identity": self.identity,
        }

    def close(self, keep: bool = False) -> None:
        super().close()
        self.standin.stop()
        self.redis.stop()
        self.pg.destroy()
        self.spool.destroy()
        if not keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


def open_stack(opts: Options) -> ChaosStack:
    """Start the throwaway services, make the databases and the secrets; nothing runs yet."""
    root = Path(opts.work_dir or tempfile.mkdtemp(prefix="chaos-"))
    root.chmod(0o755)  # mkdtemp makes it 0700: the postgres user must get in
    (root / "logs").mkdir(parents=True, exist_ok=True)
    pg = services.PostgresCluster(root / "pg", opts.pg_port)
    pg.init()
    pg.start()
    password = "pw-" + secrets.token_hex(12)
    control_url = f"postgresql+psycopg2://postgres@127.0.0.1:{opts.pg_port}/control"
    names = _databases(pg, opts, password, control_url)
    redis = services.RedisServer(root / "redis", opts.redis_port)
    redis.start()
    small = SmallSpool(root / "spool", opts.spool_mb)
    small.create()
    key = x25519.Identity.generate()
    (root / "age.key").write_text(f"{key}\n")
    token = f"654321:CHAOS-{secrets.token_hex(12)}"
    server = BotApiStandin(tokens=[token], chats=[CHAT], data_dir=root / "standin").start()
    return ChaosStack(
        standin=server,
        control_url=control_url,
        broker_url=redis.url(0),
        result_url=redis.url(1),
        source_url=f"postgresql://{SOURCE_ROLE}:{password}@127.0.0.1:{opts.pg_port}/postgres",
        token=token,
        chat=str(CHAT),
        tmp=root,
        settings={
            "TELEGRAM_MAX_ATTEMPTS": "10",
            "TELEGRAM_UPLOAD_TIMEOUT": "30",
            "BACKUP_SPOOL_DIR": str(small.path),
            "BACKUP_PART_SIZE": str(opts.part_size),
            "BACKUP_AGE_RECIPIENTS": str(key.to_public()),
            "BACKUP_AGE_IDENTITY_FILE": str(root / "age.key"),
            "BACKUP_MAX_ATTEMPTS": str(opts.max_attempts),
            "JOB_HEARTBEAT_STALE": str(opts.heartbeat_stale),
            "BACKUP_SPOOL_RETRY_DELAY": str(opts.spool_retry_delay),
            "PYTHONUNBUFFERED": "1",
        },
        options=opts,
        pg=pg,
        redis=redis,
        spool=small,
        password=password,
        identity=str(key),
        sources=names,
    )


def _databases(
    pg: services.PostgresCluster, opts: Options, password: str, control_url: str
) -> list[str]:
    """The control database (migrated) and the source databases, owned by a SCRAM role."""
    names = [f"chaos_src_{index}" for index in range(opts.databases)]
    admin = psycopg2.connect(pg.dsn())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"CREATE ROLE {SOURCE_ROLE} LOGIN CREATEDB PASSWORD %s", (password,))
        cur.execute("CREATE DATABASE control")
        for name in names:
            cur.execute(f"CREATE DATABASE {name} OWNER {SOURCE_ROLE}")
    admin.close()
    migrate.upgrade(control_url)
    for index, name in enumerate(names):
        conn = psycopg2.connect(
            host="127.0.0.1", port=opts.pg_port, user=SOURCE_ROLE, password=password, dbname=name
        )
        with conn, conn.cursor() as cur:
            cur.execute(
                "CREATE TABLE items (id serial PRIMARY KEY, label text, data jsonb);"
                " INSERT INTO items (label, data) SELECT 'item ' || i || ' db ' || %s,"
                " jsonb_build_object('n', i, 'h', md5(i::text))"
                " FROM generate_series(1, %s) AS i;",
                (index, opts.rows * (index + 1)),
            )
        conn.close()
    return names
