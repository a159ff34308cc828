"""`celery worker` subprocesses that the chaos run starts, and kills like a dying host."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

READY_TIMEOUT = 60.0  # seconds


@dataclass
class Worker:
    """One worker process tree and its log."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def hostname(self) -> str:
        """The node name jobs record as worker_hostname."""
        return self.name

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the worker and every process under it (pg_dump, pg_restore)."""
        kill_tree(self.proc)

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()


def start_worker(
    env: dict[str, str],
    log_dir: Path,
    *,
    concurrency: int = 2,
    prefix: str = "chaos",
    queues: str | None = None,
) -> Worker:
    """Start a worker (the shipped pool, celeryconfig.worker_pool) with a unique node name;
    return once it is ready."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}@{os.uname().nodename}"
    log_path = log_dir / f"{name.split('@', maxsplit=1)[0]}.log"
    args = [sys.executable, "-m", "celery", "-A", "worker.app", "worker"]
    args += [f"--concurrency={concurrency}", "-n", name, "--loglevel=INFO"]
    args += ["--without-gossip", "--without-mingle"]
    if queues is not None:
        args += ["-Q", queues]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
    worker = Worker(name, proc, log_path)
    deadline = time.monotonic() + READY_TIMEOUT
    while "ready." not in worker.log():
        if proc.poll() is not None or time.monotonic() > deadline:
            worker.kill()
            raise RuntimeError(f"worker {name} did not start:\n{worker.log()[-3000:]}")
        time.sleep(0.1)
    return worker


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process and everything it started, as when its host dies; then reap it."""
    for pid in [proc.pid, *descendants(proc.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait()


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
