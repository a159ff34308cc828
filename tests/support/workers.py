"""Worker, beat and Flower subprocesses, started with the Procfile's commands (`procfile`).

Each call names the options it adds (a node name, a concurrency, a queue) because its test needs
them; nothing is added by default. `kill()` takes the whole process tree down with SIGKILL, as
when a host dies.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support import procfile

READY_TIMEOUT = 60.0  # seconds for a process to say it is ready
READY_LINES = {
    "worker": "ready.",
    "scheduled": "ready.",
    "beat": "beat: Starting...",
    "wal": "wal: ready,",
}


@dataclass
class Process:
    """One Procfile process (worker, beat or flower), its environment and its log."""

    kind: str
    name: str  # the node name without its host, or a label; names the log file
    hostname: str  # a worker's node name, as jobs record it (worker_hostname)
    proc: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str]

    def log(self) -> str:
        """Everything the process logged so far."""
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the process and every process under it (pg_dump, pg_restore)."""
        kill_tree(self.proc)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (a worker's warm shutdown); SIGKILL the tree after `timeout` seconds."""
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()


def start(kind: str, env: dict[str, str], log_dir: Path, *options: str) -> Process:
    """Start the Procfile's `kind` with `options` appended; return once it is ready.

    A worker or beat is ready when its log says so; Flower when /healthcheck answers on
    FLOWER_PORT (its address and port come from the environment, as in the Procfile).
    """
    hostname = _node_name(options) or f"celery@{os.uname().nodename}"  # Celery's default
    name = hostname.split("@", maxsplit=1)[0] if _node_name(options) else kind
    log_path = log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log"
    log_dir.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            procfile.argv(kind, *options),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a signal to the test's group never reaches it
        )
    process = Process(kind, name, hostname, proc, log_path, env)
    deadline = time.monotonic() + READY_TIMEOUT
    while not _ready(process):
        if proc.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"{kind} {name} did not start:\n{process.log()[-3000:]}")
        time.sleep(0.1)
    return process


def _node_name(options: tuple[str, ...]) -> str | None:
    """The node name `-n NAME` gives, %h expanded as Celery does."""
    for flag, value in itertools.pairwise(options):
        if flag in ("-n", "--hostname"):
            return value.replace("%h", os.uname().nodename)
    return None


def _ready(process: Process) -> bool:
    if process.kind in READY_LINES:
        return READY_LINES[process.kind] in process.log()
    url = f"http://127.0.0.1:{process.env['FLOWER_PORT']}/healthcheck"
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


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
