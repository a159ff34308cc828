"""One backup through the real worker, timed from enqueue to the completed jobs row."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass

from benchmarks import cputime, memory, rig
from tests.support import workers
from tests.support.stack import FINISHED

POLL = 0.2  # seconds between two reads of the jobs row (timing comes from finished_at)
JOB_TIMEOUT = 3 * 3600  # seconds
_DUMPED = re.compile(r"dumped \S+ into \d+ part\(s\), \d+ bytes from (\d+) in")


@dataclass(frozen=True)
class WorkerRun:
    """A backup as the worker did it: times, artifact, memory of the worker's process tree."""

    seconds: float  # enqueue -> job finished (the jobs row's finished_at)
    tasks: dict[str, float]  # Celery's run time of each task of the chain
    size_bytes: int
    parts: int
    raw_bytes: int  # pg_dump's output, before compression
    job_writes: int  # inserts and updates of the jobs row, progress included
    idle: memory.Peak  # the tree just before the job
    peak: memory.Peak  # the tree's peak during the job
    cpu_seconds: float = 0.0  # the worker's threads and the pg_dump it reaped, during the job

    @property
    def overhead_seconds(self) -> float:
        """Time outside the tasks' own run time: enqueueing, queueing, chain hops."""
        return self.seconds - sum(self.tasks.values())

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {
            "seconds": round(self.seconds, 3),
            "tasks": {name: round(value, 3) for name, value in self.tasks.items()},
            "overhead_seconds": round(self.overhead_seconds, 3),
            "size_bytes": self.size_bytes,
            "parts": self.parts,
            "raw_bytes": self.raw_bytes,
            "job_writes": self.job_writes,
            "cpu_seconds": round(self.cpu_seconds, 3),
            "idle_memory": self.idle.to_json(),
            "peak_memory": self.peak.to_json(),
        }


def wait(bench: rig.Bench, job_id: uuid.UUID, timeout: float = JOB_TIMEOUT) -> dict[str, object]:
    """Poll the jobs row until the job is finished; RuntimeError unless it completed."""
    deadline = time.monotonic() + timeout
    while True:
        row = bench.job(job_id)
        assert row is not None, job_id
        if row["status"] in FINISHED:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} still {row['status']} after {timeout} s")
        time.sleep(POLL)
    if row["status"] != "completed":
        raise RuntimeError(f"job {job_id} ended {row['status']}: {row['error']}")
    return row


def warm_up(bench: rig.Bench, database: str, jobs: int) -> None:
    """Back up `database` `jobs` times at once, untimed, so every pool process has imported its
    modules and opened its connections, as in a long-running worker."""
    for job_id in [bench.enqueue("bench-warmup", database) for _ in range(jobs)]:
        wait(bench, job_id)


def backup(bench: rig.Bench, running: workers.Process, database: str) -> WorkerRun:
    """Enqueue one backup of `database`, wait for it, and measure it."""
    root = running.proc.pid
    idle_sampler = memory.TreeSampler(root)
    idle_sampler.sample()
    mark = len(running.log())
    with memory.TreeSampler(root) as sampler:
        cpu = cputime.process(root)
        started = time.time()
        job_id = bench.enqueue("bench-speed", database)
        row = wait(bench, job_id)
        cpu = cputime.process(root) - cpu
    finished_at = row["finished_at"]
    assert hasattr(finished_at, "timestamp")
    result = row["result"]
    assert isinstance(result, dict)
    summary = result["backup"]
    tasks = {name: sum(times) for name, times in rig.task_seconds(running.log()[mark:]).items()}
    return WorkerRun(
        seconds=finished_at.timestamp() - started,
        tasks=tasks,
        size_bytes=int(summary["size_bytes"]),
        parts=int(summary["part_count"]),
        raw_bytes=_raw_bytes(running.log()[mark:]),
        job_writes=rig.job_writes(bench.database, [job_id]).get(job_id, 0),
        idle=idle_sampler.peak,
        peak=sampler.peak,
        cpu_seconds=cpu,
    )


def _raw_bytes(log: str) -> int:
    # The jobs row keeps the backup's summary, not the dump's manifest: pg_dump's byte count
    # is in the dump step's log line only.
    found = _DUMPED.findall(log)
    return int(found[-1]) if found else 0
