"""Peak memory of a process tree (a Celery worker, its pool children, their pg_dump), from /proc.

Two sums are kept. RSS, what `ps` shows, counts a page shared by several processes (the prefork
pool's copy-on-write pages, shared libraries) once per process, so it overstates a forked tree;
PSS splits each shared page between its sharers, so the PSS sum is the memory the tree really
holds. RSS is read every 50 ms (statm is cheap); the tree's members are looked up every RESCAN,
and PSS (which walks page tables) at each new RSS peak and at least every PSS_EVERY.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

INTERVAL = 0.05  # seconds between two samples
RESCAN = 0.5  # seconds between two searches of /proc for the tree (pg_dump comes and goes)
PSS_EVERY = 1.0  # seconds: PSS is read at each new RSS peak, and at least this often
SAMPLER_NICENESS = 10
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class ProcessMemory:
    """One process at the moment of the tree's peak."""

    pid: int
    name: str
    rss_bytes: int
    pss_bytes: int


@dataclass
class Peak:
    """The largest sums seen, and the processes at the RSS peak."""

    rss_bytes: int = 0
    pss_bytes: int = 0
    samples: int = 0
    processes: list[ProcessMemory] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict, in bytes."""
        return {
            "rss_bytes": self.rss_bytes,
            "pss_bytes": self.pss_bytes,
            "samples": self.samples,
            "processes": [
                {"pid": p.pid, "name": p.name, "rss_bytes": p.rss_bytes, "pss_bytes": p.pss_bytes}
                for p in self.processes
            ],
        }


def tree(root: int) -> list[int]:
    """`root` and all its descendants that are alive now."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
            parent = int(stat[stat.rindex(b")") + 2 :].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def rss(pid: int) -> int | None:
    """Resident bytes of one process (cheap: /proc/PID/statm); None when it has gone."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def measure(pid: int) -> ProcessMemory | None:
    """RSS and PSS of one process (PSS walks its page tables: not cheap); None when gone."""
    resident = rss(pid)
    try:
        with open(f"/proc/{pid}/comm", "rb") as handle:
            name = handle.read().decode(errors="replace").strip()
        pss = resident or 0
        with open(f"/proc/{pid}/smaps_rollup", "rb") as handle:
            for line in handle:
                if line.startswith(b"Pss:"):
                    pss = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        return None
    return None if resident is None else ProcessMemory(pid, name, resident, pss)


def snapshot(root: int) -> list[ProcessMemory]:
    """Every live process of the tree, measured now."""
    return [m for m in (measure(pid) for pid in tree(root)) if m is not None]


class TreeSampler:
    """Samples a process tree every INTERVAL seconds in a thread, keeping the peaks.

    with TreeSampler(worker_pid) as sampler:
        ...                      # the work being measured
    sampler.peak.rss_bytes
    """

    def __init__(self, root: int, interval: float = INTERVAL) -> None:
        self.root = root
        self.interval = interval
        self.peak = Peak()
        self._pids: list[int] = []
        self._rescan_at = self._pss_at = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        """Take one sample now: RSS of the known processes; PSS too at a new RSS peak."""
        now = time.monotonic()
        if now >= self._rescan_at:
            self._pids = tree(self.root)
            self._rescan_at = now + RESCAN
        total = sum(value for value in map(rss, self._pids) if value is not None)
        self.peak.samples += 1
        if total > self.peak.rss_bytes or now >= self._pss_at:
            self._pss_at = now + PSS_EVERY
            processes = snapshot(self.root)
            pss = sum(p.pss_bytes for p in processes)
            self.peak.pss_bytes = max(self.peak.pss_bytes, pss)
            if total > self.peak.rss_bytes:
                self.peak.rss_bytes = total
                self.peak.processes = processes

    def _run(self) -> None:
        # Sampling must not slow what it measures on a small machine: this thread yields.
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), SAMPLER_NICENESS)
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.sample()
            next_at += self.interval
            self._stop.wait(max(next_at - time.monotonic(), 0.0))
        self.sample()
