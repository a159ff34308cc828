"""A private PostgreSQL in recovery: the base backup's data directory, the fetched WAL, a target.

It listens on no TCP address at all (listen_addresses = ''): only on a Unix socket in a 0700
directory of its own, with trust for local connections there, so only this OS user reaches it.
Its own pg_hba and ident files replace the source's; archiving is off, so it never pushes WAL
anywhere. restore_command copies from the directory the job filled before starting it.
PostgreSQL refuses to run as root: `run_as` names the OS user it runs as when we are root.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from worker import errors
from worker.wal import receiver

START_SECONDS = 600.0  # the longest a recovery may take to reach its target


@dataclass
class Instance:
    """One scratch instance under `root` (data/, socket/, wal/, log)."""

    root: Path
    user: str  # a superuser of the recovered cluster (the source's own role)
    run_as: str | None = None
    port: int = 5499

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def wal(self) -> Path:
        return self.root / "wal"

    @property
    def socket(self) -> Path:
        return self.root / "socket"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    def prepare(self) -> None:
        """The directories (0700), owned by `run_as` when given."""
        for path in (self.root, self.wal, self.socket):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)

    def check_reachable(self) -> None:
        """ConfigError unless `run_as` can reach the instance's directory (PostgreSQL runs as
        that user and must open its data directory)."""
        if self.run_as is None:
            return
        reached = subprocess.run(
            ["runuser", "-u", self.run_as, "--", "test", "-x", str(self.root.parent)],
            capture_output=True,
            check=False,
        )
        if reached.returncode != 0:
            raise errors.ConfigError(
                f"the scratch PostgreSQL runs as {self.run_as}, who cannot reach "
                f"{self.root.parent}: every directory above it must let that user pass (a "
                "BACKUP_SPOOL_DIR of mode 0700 does not), or run the restore as a user "
                "PostgreSQL accepts, without --run-as"
            )

    def configure(self, settings: Sequence[tuple[str, str]]) -> None:
        """Recovery settings and the isolation above; recovery.signal."""
        (self.root / "pg_hba.conf").write_text("local all all trust\n")
        (self.root / "pg_ident.conf").write_text("")
        if not (self.data / "postgresql.conf").exists():
            (self.data / "postgresql.conf").write_text("")
        lines = {
            "port": str(self.port),
            "listen_addresses": "",
            "unix_socket_directories": str(self.socket),
            "hba_file": str(self.root / "pg_hba.conf"),
            "ident_file": str(self.root / "pg_ident.conf"),
            "archive_mode": "off",
            "ssl": "off",
            "wal_level": "replica",
            "hot_standby": "off",  # it is only read once promoted
            "restore_command": f"cp {self.wal}/%f %p",
            "recovery_target_action": "promote",
            **dict(settings),
        }
        with (self.data / "postgresql.auto.conf").open("a") as conf:
            for key, value in lines.items():
                conf.write(f"{key} = '{value}'\n")
        (self.data / "recovery.signal").write_text("")
        for stale in ("postmaster.pid", "standby.signal", "backup_manifest"):
            (self.data / stale).unlink(missing_ok=True)
        self._own()

    def _own(self) -> None:
        if self.run_as is None:
            return
        entry = pwd.getpwnam(self.run_as)
        for directory, _dirs, files in os.walk(self.root):
            os.chown(directory, entry.pw_uid, entry.pw_gid)
            for name in files:
                os.chown(os.path.join(directory, name), entry.pw_uid, entry.pw_gid)

    def _command(self, args: list[str]) -> list[str]:
        return ["runuser", "-u", self.run_as, "--", *args] if self.run_as else args

    def start_and_recover(self) -> None:
        """Start, and wait until recovery reached its target and promoted."""
        failed = self._pg_ctl("-l", str(self.log), "-W", "start")
        if failed is not None:
            raise errors.WalError(
                f"the scratch instance did not start: {failed} ({self._last_fatal()})"
            )
        began = time.monotonic()
        while time.monotonic() - began < START_SECONDS:
            if self._promoted():
                return
            if time.monotonic() - began > 3 and not (self.data / "postmaster.pid").exists():
                break  # it stopped: recovery failed (the log says why)
            time.sleep(0.3)
        raise errors.WalError(
            f"the scratch instance did not reach the target: {self._last_fatal()}"
        )

    def _promoted(self) -> bool:
        try:
            connection = psycopg2.connect(self.dsn("postgres"))
        except psycopg2.OperationalError:
            return False
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_is_in_recovery()")
                row = cursor.fetchone()
            return row is not None and row[0] is False
        finally:
            connection.close()

    def _last_fatal(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "no log"
        fatal = [line for line in lines if "FATAL" in line or "PANIC" in line]
        return (fatal or lines or ["no log"])[-1]

    def dsn(self, database: str) -> str:
        return f"host={self.socket} port={self.port} user={self.user} dbname={database}"

    def stop(self) -> None:
        """Shut it down cleanly and keep its files: a whole server's recovery is the result."""
        failed = self._pg_ctl("-w", "stop")
        if failed is not None:
            raise errors.WalError(
                f"the recovered instance in {self.data} did not shut down: {failed}"
            )

    def _pg_ctl(self, *args: str) -> str | None:
        """pg_ctl -D data ARGS as the instance's user: None, or what it said last on failure."""
        done = subprocess.run(
            self._command([str(receiver.PG_BIN / "pg_ctl"), "-D", str(self.data), *args]),
            check=False,
            capture_output=True,
        )
        if done.returncode == 0:
            return None
        said = done.stderr.decode(errors="replace").strip().splitlines()
        return said[-1] if said else "pg_ctl failed"

    def remove(self) -> None:
        """Stop it at once and delete every file of it."""
        if (self.data / "postmaster.pid").exists():
            self._pg_ctl("-m", "immediate", "-w", "stop")  # whatever it says, the files go
        shutil.rmtree(self.root, ignore_errors=True)
