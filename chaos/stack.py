"""The chaos run's own world: three PostgreSQL clusters, Redis, a small spool, the Bot API
stand-in enforcing Telegram's limits for two bots and two group chats, and the secrets.

A `tests.support.stack.Stack` on throwaway servers (tests.support.services) that the run may
stop and restart at will; the shared servers (5432, 6379) serve other people's tests. The
clusters: source server `default` (SOURCE_DATABASE_URL), source server `two` (SOURCE_SERVERS_FILE,
its password in a password_file), and the control plane on a cluster of its own, so that it can
go down without the sources.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import psycopg2
from pyrage import x25519

from chaos.spool import SmallSpool
from db import migrate
from standin import limits
from standin.server import BotApiStandin
from tests.support import services, workers
from tests.support.stack import Stack

CHATS = (-1001234567890, -1009876543210)  # two groups: negative ids, each 20 messages a minute
BOTS = (654321, 765432)  # two bots: the digits before each token's ':'
SOURCE_ROLE = "chaos_src"
SERVERS = ("default", "two")  # the source servers, as jobs and backups name them


class Source(NamedTuple):
    """One source database and the server it lives on."""

    server: str
    database: str


@dataclass
class Options:
    """Where the throwaway services listen and how big things are."""

    # Below the kernel's ephemeral range (32768-60999): a port up there can be held by any
    # outgoing connection's TIME-WAIT, and the throwaway cluster then fails to start.
    pg_port: int = 25432  # source server `default`
    redis_port: int = 6390
    # 0: the first free port from pg_port + 10 (server `two`) and pg_port + 20 (control plane),
    # so that the short and leak tests' stacks (pg_port 25433, 25434) never meet this one's.
    source2_port: int = 0
    control_port: int = 0
    spool_mb: int = 30
    databases: int = 4  # spread over the two servers: even indexes on `default`, odd on `two`
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
    pg: services.PostgresCluster  # source server `default`
    pg2: services.PostgresCluster  # source server `two`
    control: services.PostgresCluster  # the control plane's own cluster
    redis: services.RedisServer
    spool: SmallSpool
    passwords: dict[str, str]  # per source server
    tokens: list[str]
    identity: str
    sources: list[Source]
    dead: list[workers.Process] = field(default_factory=list)

    def cluster(self, server: str) -> services.PostgresCluster:
        """The cluster of a source server."""
        return self.pg if server == SERVERS[0] else self.pg2

    def secrets(self) -> dict[str, str]:
        """Every secret the leak scan looks for; each is in the workers' environment."""
        found = {"age identity": self.identity}
        for token in self.tokens:
            bot = token.split(":", 1)[0]
            found[f"bot {bot} token"] = token
            found[f"bot {bot} token secret half"] = token.split(":", 1)[1]
        for server, password in self.passwords.items():
            found[f"source password of {server}"] = password
        return found

    def close(self, keep: bool = False) -> None:
        super().close()
        self.standin.stop()
        self.redis.stop()
        for cluster in (self.pg, self.pg2, self.control):
            cluster.destroy()
        self.spool.destroy()
        if not keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


def _cluster(root: Path, port: int) -> services.PostgresCluster:
    cluster = services.PostgresCluster(root, port)
    cluster.init()
    cluster.start()
    return cluster


def open_stack(opts: Options) -> ChaosStack:
    """Start the throwaway services, make the databases and the secrets; nothing runs yet."""
    root = Path(opts.work_dir or tempfile.mkdtemp(prefix="chaos-"))
    root.chmod(0o755)  # mkdtemp makes it 0700: the postgres user must get in
    (root / "logs").mkdir(parents=True, exist_ok=True)
    pg = _cluster(root / "pg", opts.pg_port)
    pg2 = _cluster(root / "pg2", opts.source2_port or services.free_port(opts.pg_port + 10))
    control = _cluster(root / "control", opts.control_port or services.free_port(opts.pg_port + 20))
    passwords = {server: f"pw-{server}-" + secrets.token_hex(12) for server in SERVERS}
    control_url = f"postgresql+psycopg2://postgres@127.0.0.1:{control.port}/control"
    _control_database(control, control_url)
    sources = _sources(opts, {SERVERS[0]: pg, SERVERS[1]: pg2}, passwords)
    password_file = root / "two.password"
    password_file.write_text(passwords[SERVERS[1]] + "\n")
    password_file.chmod(0o600)
    servers_file = root / "servers.toml"
    servers_file.write_text(
        f"[servers.{SERVERS[1]}]\n"
        f'url = "postgresql://{SOURCE_ROLE}@127.0.0.1:{pg2.port}/postgres"\n'
        f'password_file = "{password_file}"\n'
    )
    redis = services.RedisServer(root / "redis", opts.redis_port)
    redis.start()
    small = SmallSpool(root / "spool", opts.spool_mb)
    small.create()
    key = x25519.Identity.generate()
    (root / "age.key").write_text(f"{key}\n")
    tokens = [f"{bot}:CHAOS-{secrets.token_hex(12)}" for bot in BOTS]
    server = BotApiStandin(
        tokens=tokens, chats=CHATS, data_dir=root / "standin", limits=limits.TELEGRAM
    ).start()
    return ChaosStack(
        standin=server,
        control_url=control_url,
        broker_url=redis.url(0),
        result_url=redis.url(1),
        source_url=(
            f"postgresql://{SOURCE_ROLE}:{passwords[SERVERS[0]]}@127.0.0.1:{pg.port}/postgres"
        ),
        token=",".join(tokens),
        chat=",".join(str(chat) for chat in CHATS),
        tmp=root,
        settings={
            "SOURCE_SERVERS_FILE": str(servers_file),
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
        pg2=pg2,
        control=control,
        redis=redis,
        spool=small,
        passwords=passwords,
        tokens=tokens,
        identity=str(key),
        sources=sources,
    )


def _control_database(cluster: services.PostgresCluster, control_url: str) -> None:
    admin = psycopg2.connect(cluster.dsn())
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("CREATE DATABASE control")
    admin.close()
    migrate.upgrade(control_url)


def _sources(
    opts: Options, clusters: dict[str, services.PostgresCluster], passwords: dict[str, str]
) -> list[Source]:
    """The source databases, spread over the servers, each owned by a SCRAM role."""
    for server, cluster in clusters.items():
        admin = psycopg2.connect(cluster.dsn())
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(
                f"CREATE ROLE {SOURCE_ROLE} LOGIN CREATEDB PASSWORD %s", (passwords[server],)
            )
        admin.close()
    made = [
        Source(SERVERS[index % len(SERVERS)], f"chaos_src_{index}")
        for index in range(opts.databases)
    ]
    for index, (server, name) in enumerate(made):
        admin = psycopg2.connect(clusters[server].dsn())
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name} OWNER {SOURCE_ROLE}")
        admin.close()
        conn = psycopg2.connect(
            host="127.0.0.1",
            port=clusters[server].port,
            user=SOURCE_ROLE,
            password=passwords[server],
            dbname=name,
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
    return made
