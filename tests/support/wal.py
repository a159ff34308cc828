"""A source cluster that streams WAL, and a WAL store on the Bot API stand-in, for PITR tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg2
import pyrage

from db import session
from db.queries import wal as db_wal
from standin.server import BotApiStandin
from tests.support import procfile, scratch, services, workers
from worker.backup import upload
from worker.telegram import client as telegram
from worker.telegram import sender as fleetsender
from worker.wal import plan, receiver, recover, store

TOKEN = "333333:wal-secret"
CHAT = "-1003"


@contextlib.contextmanager
def source_cluster() -> Iterator[services.PostgresCluster]:
    """An initdb'd cluster on a free port that accepts replication from 127.0.0.1."""
    root = Path(tempfile.mkdtemp(prefix="bw-wal-src-"))
    os.chmod(root, 0o755)  # noqa: S103 - postgres must reach its data directory below it
    cluster = services.PostgresCluster(root / "pg", services.free_port(26900))
    try:
        cluster.init()
        with (cluster.data / "pg_hba.conf").open("a") as hba:
            hba.write("host replication postgres 127.0.0.1/32 trust\n")
        with (cluster.data / "postgresql.conf").open("a") as conf:
            conf.write("wal_level = replica\nmax_wal_senders = 10\nfsync = on\n")
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def replica_of(primary: services.PostgresCluster) -> Iterator[services.PostgresCluster]:
    """A streaming replica of `primary` (pg_basebackup -R), on a free port of its own."""
    root = Path(tempfile.mkdtemp(prefix="bw-wal-replica-"))
    os.chmod(root, 0o755)  # noqa: S103 - postgres must reach its data directory below it
    replica = services.PostgresCluster(root / "pg", services.free_port(27000))
    replica.root.mkdir()
    if os.geteuid() == 0:
        shutil.chown(replica.root, "postgres", "postgres")
    try:
        subprocess.run(
            services.as_postgres(
                [
                    str(services.PG_BIN / "pg_basebackup"),
                    "-D",
                    str(replica.data),
                    "-R",
                    "-X",
                    "stream",
                    "-d",
                    conninfo(primary),
                ]
            ),
            check=True,
            capture_output=True,
        )
        with (replica.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {replica.port}\nunix_socket_directories = '{replica.root}'\n"
                "hot_standby = on\n"
            )
        replica.start()
        yield replica
    finally:
        replica.destroy()
        shutil.rmtree(root, ignore_errors=True)


def wait_recorded(
    database: session.Database,
    cluster: services.PostgresCluster,
    server: str,
    *,
    timeout: float = 30,
    why: Callable[[], str] = lambda: "",
) -> None:
    """Until the WAL `cluster` has flushed so far is recorded as `server`'s; `why()` is added
    to the failure (a streamer's log)."""
    flushed = int(str(execute(cluster, "SELECT pg_current_wal_flush_lsn() - '0/0'")))
    system = str(execute(cluster, "SELECT system_identifier::text FROM pg_control_system()"))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with database.transaction() as s:
            ended = db_wal.recorded_end(s, server, system)
        if ended is not None and ended[1] >= flushed:
            return
        time.sleep(0.3)
    raise AssertionError(f"the WAL of {server} was not recorded in {timeout} s {why()}")


def conninfo(cluster: services.PostgresCluster) -> str:
    return f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres"


def execute(cluster: services.PostgresCluster, sql: str, database: str = "postgres") -> object:
    """Run `sql` in its own transaction; the first column of the first row, if any."""
    connection = psycopg2.connect(cluster.dsn(database))
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            row = cursor.fetchone() if cursor.description else None
            return None if row is None else row[0]
    finally:
        connection.close()


def store_at(url: str, spool: Path, key_file: Path) -> store.Store:
    """A store sending to the stand-in at `url`, age-encrypted to the identity in `key_file`."""
    identity = pyrage.x25519.Identity.from_str(key_file.read_text().strip())

    def client(_bot: str | None) -> telegram.TelegramClient:
        return telegram.TelegramClient(TOKEN, url)

    return store.Store(
        sender=fleetsender.Sender(
            client, bots=[TOKEN.split(":", 1)[0]], pacer=None, max_attempts=4
        ),
        where=upload.Destination(CHAT, None, "wal", "source"),
        clients=client,
        spool_dir=spool,
        part_size=1 << 20,
        recipients=(str(identity.to_public()),),
        identity_file=key_file,
    )


def new_key(path: Path) -> Path:
    """A fresh age identity file (0600) at `path`."""
    path.write_text(str(pyrage.x25519.Identity.generate()) + "\n")
    path.chmod(0o600)
    return path


@contextlib.contextmanager
def standin() -> Iterator[BotApiStandin]:
    """The Bot API stand-in with the WAL tests' bot and chat."""
    with BotApiStandin(tokens=[TOKEN], chats=[int(CHAT)]) as server:
        yield server


@contextlib.contextmanager
def wal_store(spool: Path) -> Iterator[store.Store]:
    """A store sending to a fresh stand-in, age-encrypted, its identity file beside `spool`."""
    key_file = new_key(spool.parent / "age.key")
    with standin() as server:
        yield store_at(server.url, spool, key_file)


def load_into(archive: Path, dsn: str) -> None:
    """A recovered dump restored as the test's superuser into the new database `dsn` names: the
    test's own data only (the worker restores a project's through its restore job, as the
    project's restore role)."""
    subprocess.run(
        [
            str(receiver.PG_BIN / "pg_restore"),
            "--no-owner",
            "--exit-on-error",
            "-d",
            dsn,
            str(archive),
        ],
        check=True,
        capture_output=True,
    )


def recovered_log(
    chosen: plan.Plan, wal: store.Store, work: Path, *, port_near: int, prefix: str
) -> tuple[recover.Outcome, list[int]]:
    """Recover `chosen` through a scratch instance under `work` (as the worker does), restore its
    dump into a new database and read back the test table `log`'s ids, in order."""
    outcome = recover.recover(
        chosen,
        wal,
        work / "scratch",
        user="postgres",
        database="app",
        port=services.free_port(port_near),
        run_as="postgres" if os.geteuid() == 0 else None,
    )
    assert outcome.archive is not None
    with scratch.database(prefix) as url:
        dsn = f"host=127.0.0.1 port=5432 user=postgres dbname={url.rsplit('/', 1)[1]}"
        load_into(outcome.archive, dsn)
        connection = psycopg2.connect(dsn)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT id FROM log ORDER BY id")
                ids = [int(row[0]) for row in cursor.fetchall()]
        finally:
            connection.close()
    return outcome, ids


def servers_file(path: Path, servers: dict[str, str]) -> Path:
    """A SOURCE_SERVERS_FILE naming each server's URL (trust auth: no password file)."""
    lines = []
    for name, url in servers.items():
        lines += [f"[servers.{name}]", f'url = "{url}"', ""]
    path.write_text("\n".join(lines))
    return path


def streamer_env(
    *,
    control_url: str,
    redis_url: str,
    standin_url: str,
    key_file: Path,
    registry: Path,
    spool: Path,
    **settings: str,
) -> dict[str, str]:
    """The environment of the Procfile's `wal` process: this test's services, its age key, its
    server registry, and the WAL_* settings the test names in `settings`."""
    own = ("TELEGRAM_", "BACKUP_", "PACER_", "WAL_", "SOURCE_")  # never the caller's
    env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    env.update(
        DATABASE_URL=control_url,
        CELERY_BROKER_URL=redis_url,
        CELERY_RESULT_BACKEND=redis_url,
        TELEGRAM_API_URL=standin_url,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_CHAT_ID=CHAT,
        BACKUP_SPOOL_DIR=str(spool),
    )
    env.update(key_and_registry(key_file, registry))
    env.update(settings)
    return env


def key_and_registry(key_file: Path, registry: Path) -> dict[str, str]:
    """The settings every process of a PITR run shares beyond its services: the age key pair
    (the streamer encrypts, the restore decrypts) and the server registry."""
    identity = pyrage.x25519.Identity.from_str(key_file.read_text().strip())
    return {
        "BACKUP_AGE_RECIPIENTS": str(identity.to_public()),
        "BACKUP_AGE_IDENTITY_FILE": str(key_file),
        "SOURCE_SERVERS_FILE": str(registry),
    }


def cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`backup-worker ARGS --json` in `env`, as an operator runs it; its output kept."""
    return subprocess.run(
        [str(procfile.VENV_BIN / "backup-worker"), *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_streamer(env: dict[str, str], log_dir: Path, *options: str) -> workers.Process:
    """The Procfile's `wal` process (`backup-worker wal stream`) with `options`; ready."""
    return workers.start("wal", env, log_dir, *options)
