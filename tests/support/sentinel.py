"""A Redis primary, its replica and three Redis Sentinels on loopback, for failover tests.

Each is a `redis-server` of its own on a free port (sentinels: `redis-server FILE --sentinel`),
under `root`; nothing of the shared Redis (6379) is touched. `kill_primary()` SIGKILLs the
primary as a host failure would; the sentinels agree it is down after DOWN_AFTER and promote
the replica.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.support import services

MASTER = "bw-primary"
QUORUM = 2  # sentinels that must agree the primary is down
DOWN_AFTER = 1000  # milliseconds without an answer before a sentinel calls the primary down
FAILOVER_TIMEOUT = 10_000  # milliseconds


@dataclass
class SentinelGroup:
    """A primary, a replica and three sentinels watching them as MASTER."""

    root: Path
    master: str = MASTER
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        primary, replica = services.free_port(), services.free_port()
        self._redis("primary", primary)
        self._redis("replica", replica, "--replicaof", "127.0.0.1", str(primary))
        for index in range(3):
            port = services.free_port()
            config = self.root / f"sentinel{index}.conf"
            config.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.root}\n"
                f"sentinel monitor {self.master} 127.0.0.1 {primary} {QUORUM}\n"
                f"sentinel down-after-milliseconds {self.master} {DOWN_AFTER}\n"
                f"sentinel failover-timeout {self.master} {FAILOVER_TIMEOUT}\n"
                f"sentinel parallel-syncs {self.master} 1\n"
            )
            self._start(f"sentinel{index}", port, ["redis-server", str(config), "--sentinel"])
        # The replica in sync, and every sentinel aware of it and of the others.
        deadline = time.monotonic() + 30
        while not self._settled():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the sentinel group did not settle:\n{self.logs()}")
            time.sleep(0.2)

    def _redis(self, name: str, port: int, *extra: str) -> None:
        args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.root), *extra]
        self._start(name, port, args)

    def _start(self, name: str, port: int, args: list[str]) -> None:
        with (self.root / f"{name}.log").open("ab") as log:
            self.procs[name] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        self.ports[name] = port
        services.wait_port(port, up=True)

    def _settled(self) -> bool:
        replica = redis.Redis(port=self.ports["replica"])
        with contextlib.closing(replica):
            if replica.info("replication").get("master_link_status") != "up":
                return False
        for name in self.sentinel_names():
            watcher = redis.Redis(port=self.ports[name])
            with contextlib.closing(watcher):
                seen = watcher.sentinel_master(self.master)
            if not isinstance(seen, dict):
                return False
            if int(seen.get("num-slaves", 0)) < 1 or int(seen.get("num-other-sentinels", 0)) < 2:
                return False
        return True

    def sentinel_names(self) -> list[str]:
        return sorted(name for name in self.procs if name.startswith("sentinel"))

    def url(self, db: int = 0) -> str:
        """kombu's form: one sentinel:// URL per sentinel, joined by `;`."""
        ports = [self.ports[name] for name in self.sentinel_names()]
        return ";".join(f"sentinel://127.0.0.1:{port}/{db}" for port in ports)

    def primary_port(self) -> int:
        """The port of the primary as the first sentinel that answers sees it now."""
        for name in self.sentinel_names():
            watcher = redis.Redis(port=self.ports[name], socket_timeout=2)
            with contextlib.closing(watcher), contextlib.suppress(redis.RedisError):
                found = watcher.sentinel_get_master_addr_by_name(self.master)
                if isinstance(found, (list, tuple)):
                    return int(found[1])
        raise RuntimeError("no sentinel answers")

    def kill_primary(self) -> float:
        """SIGKILL the primary; return the monotonic time it died."""
        self.procs["primary"].kill()
        self.procs["primary"].wait()
        return time.monotonic()

    def wait_promoted(self, timeout: float = 60) -> float:
        """Wait until the sentinels name the replica the primary and it accepts writes; return
        that monotonic time."""
        deadline = time.monotonic() + timeout
        replica = redis.Redis(port=self.ports["replica"], socket_timeout=2)
        with contextlib.closing(replica):
            while time.monotonic() < deadline:
                with contextlib.suppress(redis.RedisError):
                    role = replica.info("replication").get("role")
                    if self.primary_port() == self.ports["replica"] and role == "master":
                        return time.monotonic()
                time.sleep(0.05)
        raise RuntimeError(f"no promotion within {timeout} s:\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-15:])
            for path in sorted(self.root.glob("*.log"))
        )

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def group(root: Path) -> Iterator[SentinelGroup]:
    """A started SentinelGroup, every process killed afterwards."""
    made = SentinelGroup(root)
    try:
        made.start()
        yield made
    finally:
        made.stop()
