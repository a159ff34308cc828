"""Extra PostgreSQL 15 clusters for the many-servers tests: a password-protected role each."""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2

ROLE = "bw_backup"
AS_ADMIN = ("-U", "postgres")
HBA = (
    "local all all trust\n"  # the test's own set-up and sampling, through the socket
    "host all all 127.0.0.1/32 scram-sha-256\n"  # the worker: the role's password only
)


@dataclass
class Cluster:
    """One extra cluster: `pg_createcluster 15 NAME --port PORT`, dropped afterwards."""

    name: str
    port: int
    password: str = field(repr=False)

    def admin(self, database: str = "postgres") -> psycopg2.extensions.connection:
        conn = psycopg2.connect(
            host="/var/run/postgresql", port=self.port, user="postgres", dbname=database
        )
        conn.autocommit = True
        return conn

    def query(self, sql: str, database: str = "postgres") -> list[tuple[object, ...]]:
        with contextlib.closing(self.admin(database)) as conn, conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall()) if cur.description else []

    def url(self) -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/postgres"

    def dump_schema(self, database: str) -> str:
        done = subprocess.run(
            [
                "pg_dump",
                "--schema-only",
                "--no-owner",  # a restore makes every object its database owner's
                "-h",
                "/var/run/postgresql",
                "-p",
                str(self.port),
                *AS_ADMIN,
                database,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        # pg_dump 15.x+ writes a random \restrict key; everything else must match.
        return "\n".join(line for line in done.stdout.splitlines() if "restrict" not in line)


@contextlib.contextmanager
def cluster(name: str, port: int) -> Iterator[Cluster]:
    """A started cluster with ROLE (SUPERUSER, password) and the HBA above."""
    subprocess.run(["pg_dropcluster", "--stop", "15", name], capture_output=True, check=False)
    subprocess.run(
        ["pg_createcluster", "15", name, "--port", str(port)], capture_output=True, check=True
    )
    try:
        Path(f"/etc/postgresql/15/{name}/pg_hba.conf").write_text(HBA)
        subprocess.run(["pg_ctlcluster", "15", name, "start"], capture_output=True, check=True)
        made = Cluster(name, port, f"pw-{uuid.uuid4().hex}")
        made.query(f"CREATE ROLE {ROLE} LOGIN SUPERUSER PASSWORD '{made.password}'")
        yield made
    finally:
        subprocess.run(["pg_dropcluster", "--stop", "15", name], capture_output=True, check=False)


def make_databases(target: Cluster, prefix: str, count: int, rows: int) -> list[str]:
    names = [f"{prefix}{index}" for index in range(count)]
    for name in names:
        target.query(f"CREATE DATABASE {name} OWNER {ROLE}")
        target.query(
            f"CREATE TABLE items (id serial PRIMARY KEY, label text, n int);"
            f"INSERT INTO items (label, n) SELECT md5(i::text) || '{name}', i "
            f"FROM generate_series(1, {rows}) AS i;"
            f"CREATE VIEW recent AS SELECT * FROM items WHERE id > 10;",
            name,
        )
    return names


class Sampler(threading.Thread):
    """Every ~50 ms: the dump sessions per cluster, and every process's arguments."""

    def __init__(self, clusters: list[Cluster], interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.clusters = clusters
        self.interval = interval
        self.peaks = {c.name: 0 for c in clusters}
        self.samples = 0
        self.args: set[str] = set()
        self._done = threading.Event()

    def run(self) -> None:
        conns = {c.name: c.admin() for c in self.clusters}
        try:
            while not self._done.is_set():
                for name, conn in conns.items():
                    with conn.cursor() as cur:
                        # One name per job (backup-worker:<job8>): a dump that counts rows
                        # in its snapshot holds two sessions, pg_dump's and the snapshot's.
                        cur.execute(
                            "SELECT count(DISTINCT application_name) FROM pg_stat_activity "
                            "WHERE application_name LIKE 'backup-worker:%'"
                        )
                        row = cur.fetchone()
                    self.peaks[name] = max(self.peaks[name], int(row[0]) if row else 0)
                ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True)
                self.args.update(ps.stdout.splitlines())
                self.samples += 1
                time.sleep(self.interval)
        finally:
            for conn in conns.values():
                conn.close()

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=30)
