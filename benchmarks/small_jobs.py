"""Many small backups: jobs per minute, and what the worker adds to each job.

    python -m benchmarks.small_jobs                          # 200 backups of 10 small databases
    python -m benchmarks.small_jobs --jobs 40 --databases 4  # quick

The baseline runs the bare tools on the same sequence of databases, one after the other:
`pg_dump -Fc` to a file, then `curl -F document=@file` to sendDocument. Then, for each pool size,
a real worker is started (and warmed up), every backup is enqueued at once as the gateway does,
and the time from the first enqueue to the last completed jobs row is taken. With one pool
slot the jobs run one after the other like the baseline, so

    worker overhead per job = (worker wall time - baseline wall time) / jobs

is what queueing, chain hops, jobs-table writes and task set-up cost each job beyond the dump
and the upload themselves. The per-job breakdown comes from the jobs table and the worker's log.

The baseline and the workers run interleaved in rounds (bare, 1 slot, 2 slots, bare, ...;
--rounds, 5 by default); the figures are the median and min-max of the per-round overhead and
of the per-round ratio worker / bare, so a load spike weighs on the round it lands in only.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from benchmarks import baseline, datagen, jobrun, report, rig, small_tables

TARGET_OVERHEAD = 0.050  # seconds per job
DEFAULT_ROUNDS = 5
SMALL_SIZE_MB = 10  # pg_database_size of each small database (about 1.5 MB of pg_dump output)
SMALL_SCALE = 0.1  # rows per loading batch, relative to the large databases'
_STAGE_DONE = re.compile(r"job ([0-9a-f-]{36}) project=\S+ stage=(\w+): succeeded in ([0-9.]+)s")


@dataclass
class PoolRun:
    """All jobs through one worker with `concurrency` pool slots."""

    concurrency: int
    seconds: float  # first enqueue -> last finished_at
    enqueue_seconds: float  # time the gateway side took to insert and send every job
    jobs: int
    stage_seconds: dict[str, float] = field(default_factory=dict)  # mean per job, from the log
    writes_per_job: float = 0.0
    queue_wait: float = 0.0  # mean created_at -> started_at

    @property
    def jobs_per_minute(self) -> float:
        return self.jobs / self.seconds * 60 if self.seconds else 0.0

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {
            "concurrency": self.concurrency,
            "seconds": round(self.seconds, 3),
            "enqueue_seconds": round(self.enqueue_seconds, 3),
            "jobs": self.jobs,
            "jobs_per_minute": round(self.jobs_per_minute, 1),
            "seconds_per_job": round(self.seconds / self.jobs, 4),
            "mean_task_seconds": {k: round(v, 4) for k, v in self.stage_seconds.items()},
            "jobs_row_writes_per_job": round(self.writes_per_job, 2),
            "mean_queue_wait_seconds": round(self.queue_wait, 3),
        }


def bare_sequence(
    bench: rig.Bench, names: list[str], count: int
) -> tuple[float, list[baseline.NaiveRun]]:
    """pg_dump -Fc + curl for each job of the sequence, one after the other."""
    params = datagen.source_params()
    runs = []
    started = time.perf_counter()
    for number in range(count):
        runs.append(
            baseline.naive(
                params,
                names[number % len(names)],
                bench.tmp / "bare",
                send_document_url=bench.standin.send_document_url(),
                chat_id=rig.CHAT,
            )
        )
    return time.perf_counter() - started, runs


def through_worker(bench: rig.Bench, names: list[str], count: int, concurrency: int) -> PoolRun:
    """Every job enqueued at once to a fresh, warmed-up worker; timed to the last completion."""
    # --concurrency: the pool size this run measures.
    with rig.worker(bench, f"--concurrency={concurrency}") as running:
        jobrun.warm_up(bench, names[0], concurrency)
        mark = len(running.log())
        started = time.time()
        job_ids = [bench.enqueue("bench-small", names[n % len(names)]) for n in range(count)]
        enqueued = time.time() - started
        for job_id in job_ids:
            jobrun.wait(bench, job_id)
        log = running.log()[mark:]
    last, waits = _finish_and_waits(bench, job_ids)
    writes = rig.job_writes(bench.database, job_ids)
    run = PoolRun(concurrency, last - started, enqueued, count)
    run.writes_per_job = sum(writes.values()) / count
    run.queue_wait = waits
    per_stage: dict[str, float] = {}
    wanted = {str(job_id) for job_id in job_ids}
    for job_id, stage, seconds in _STAGE_DONE.findall(log):
        if job_id in wanted:
            per_stage[stage] = per_stage.get(stage, 0.0) + float(seconds)
    run.stage_seconds = {stage: total / count for stage, total in per_stage.items()}
    return run


def _finish_and_waits(bench: rig.Bench, job_ids: list[uuid.UUID]) -> tuple[float, float]:
    with bench.database.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT extract(epoch FROM max(finished_at)),"
                " extract(epoch FROM avg(started_at - created_at))"
                " FROM control_plane.jobs WHERE id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"ids": [str(job_id) for job_id in job_ids]},
        ).one()
    return float(row[0]), float(row[1] or 0.0)


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    """The command line."""
    run(argv)
    return 0


def run(argv: list[str] | None = None) -> dict[str, object]:
    """Run the baseline and the worker, print the tables and the JSON; return the JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.small_jobs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--databases", type=int, default=10)
    parser.add_argument("--size-mb", type=int, default=SMALL_SIZE_MB)
    parser.add_argument("--scale", type=float, default=SMALL_SCALE, help="rows per batch")
    parser.add_argument("--concurrency", type=_ints, default=[1, 2], help="pool sizes, e.g. 1,2")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="of bare, then pools")
    parser.add_argument("--json-out", type=Path, help="also write the JSON document here")
    args = parser.parse_args(argv)
    params = datagen.source_params()
    names = [
        datagen.ensure(
            params, args.size_mb, label=f"small{n}", seed=100 + n, scale=args.scale, log=False
        ).name
        for n in range(args.databases)
    ]
    load_before = report.load_average()
    rounds: list[small_tables.Round] = []
    with rig.stack() as bench:
        for number in range(args.rounds):
            report.line(
                f"round {number + 1} of {args.rounds} (load average {report.load_average()}):"
                f" pg_dump -Fc + curl, {args.jobs} times"
            )
            bare_seconds, bare_runs = bare_sequence(bench, names, args.jobs)
            pools = []
            for concurrency in args.concurrency:
                report.line(f"worker with {concurrency} pool slot(s): {args.jobs} jobs")
                pools.append(through_worker(bench, names, args.jobs, concurrency))
            rounds.append(small_tables.Round(bare_seconds, bare_runs, pools))
    document = small_tables.show(names, rounds, TARGET_OVERHEAD, load_before)
    report.emit(document, args.json_out)
    return document


if __name__ == "__main__":
    sys.exit(main())
