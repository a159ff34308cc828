"""Throwaway PostgreSQL and Redis servers that the chaos run may stop and restart at will.

The shared servers (5432, 6379) serve other people's tests: chaos never touches them. As root,
PostgreSQL must run as the `postgres` user, so its commands go through `runuser`.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")
READY_TIMEOUT = 30.0  # seconds


def wait_port(port: int, *, up: bool, timeout: float = READY_TIMEOUT) -> None:
    """Wait until 127.0.0.1:port accepts connections (up) or refuses them (not up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            accepting = sock.connect_ex(("127.0.0.1", port)) == 0
        if accepting == up:
            return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} is still {'closed' if up else 'open'} after {timeout} s")


def free_port(near: int = 0, tries: int = 200) -> int:
    """The first port from `near` up that binds now: parallel runs (a colleague's suite) may
    hold the one a test would pick. Ports below the ephemeral range stay free of TIME-WAIT;
    `near=0` asks the kernel for any free port. Under pytest-xdist each worker searches its own
    band (1,000 ports up per worker), so two tests that start at once do not pick the same port
    before either binds it."""
    if near:
        near += 1000 * _xdist_index()
    for port in range(near, near + tries) if near else [0]:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise RuntimeError(f"no free port in {near}..{near + tries - 1}")


def _xdist_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ... under pytest -n
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0


def as_postgres(args: list[str]) -> list[str]:
    """`args` run as the postgres user when the tests run as root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@dataclass
class PostgresCluster:
    """An initdb'd cluster in `root`, trust auth for postgres, SCRAM for every other role."""

    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    def init(self) -> None:
        """initdb; the password-protected roles must log in with their password."""
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        subprocess.run(
            as_postgres(
                [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust"]
            ),
            check=True,
            capture_output=True,
        )
        (self.data / "pg_hba.conf").write_text(
            "local all postgres trust\n"
            "host all postgres 127.0.0.1/32 trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.root}'\nfsync = off\n"
                "max_connections = 200\nlog_min_messages = warning\n"
            )

    @property
    def log(self) -> str:
        return str(self.root / "pg.log")

    def start(self) -> None:
        subprocess.run(
            as_postgres(
                [str(PG_BIN / "pg_ctl"), "-w", "-D", str(self.data), "-l", self.log, "start"]
            ),
            check=True,
            capture_output=True,
        )
        wait_port(self.port, up=True)

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"]),
            check=False,
            capture_output=True,
        )

    def restart(self, down_for: float = 1.0) -> None:
        """Stop (fast: every session is cut), stay down a moment, start again."""
        self.stop("fast")
        time.sleep(down_for)
        self.start()

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def dsn(self, database: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"


@dataclass
class RedisServer:
    """A `redis-server`. By default without persistence: a restart loses every message, as a
    crash would; `append_only` keeps an AOF fsynced on every write, as a production broker
    does, and `stop` then shuts it down cleanly so a restart loses nothing."""

    root: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    append_only: bool = False

    @property
    def log(self) -> str:
        return str(self.root / "pg.log")

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--dir", str(self.root)]
        args += (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self.append_only
            else [
                "--appendonly",
                "no",
            ]
        )
        with (self.root / "redis.log").open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        wait_port(self.port, up=True)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            if self.append_only:
                self.proc.terminate()  # a clean shutdown: Redis flushes its append-only file
            else:
                self.proc.kill()  # as a crash: nothing is saved (and nothing would be anyway)
            self.proc.wait()
        self.proc = None
        wait_port(self.port, up=False)

    def restart(self, down_for: float = 1.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"
