"""The tables of benchmarks.small_jobs, and its JSON document."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmarks import baseline, report

if TYPE_CHECKING:
    from benchmarks.small_jobs import PoolRun


def overhead_per_job(pool: PoolRun, bare_seconds: float) -> float | None:
    """(worker wall - bare wall) / jobs; only meaningful when jobs ran one at a time."""
    if pool.concurrency != 1:
        return None
    return (pool.seconds - bare_seconds) / pool.jobs


def show(
    names: list[str],
    bare_seconds: float,
    bare_runs: list[baseline.NaiveRun],
    pools: list[PoolRun],
    target: float,
) -> dict[str, object]:
    """Print throughput, the per-job breakdown and the target; return the JSON document."""
    jobs = len(bare_runs)
    rows: list[list[object]] = [
        [
            "bare pg_dump -Fc + curl, one at a time",
            bare_seconds,
            bare_seconds / jobs,
            jobs / bare_seconds * 60,
            "-",
        ]
    ]
    for pool in pools:
        overhead = overhead_per_job(pool, bare_seconds)
        rows.append(
            [
                f"worker, {pool.concurrency} pool slot(s)",
                pool.seconds,
                pool.seconds / pool.jobs,
                pool.jobs_per_minute,
                "-" if overhead is None else f"{overhead * 1000:.1f} ms",
            ]
        )
    mean_size = sum(run.size_bytes for run in bare_runs) / jobs
    report.table(
        f"{jobs} backups of {len(names)} small databases (pg_dump -Fc {report.mb(mean_size)} each)",
        ["", "wall s", "s per job", "jobs/min", "worker overhead per job"],
        rows,
    )
    stages = ["create", "dump", "upload", "record"]
    report.table(
        "Per job, mean seconds (worker: its tasks' run times from the log; bare: each tool)",
        ["", *stages, "outside tasks", "jobs-row writes", "queue wait"],
        [
            [
                f"worker, {pool.concurrency} slot(s)",
                *(pool.stage_seconds.get(stage, 0.0) for stage in stages),
                pool.seconds / pool.jobs * pool.concurrency - sum(pool.stage_seconds.values()),
                pool.writes_per_job,
                pool.queue_wait,
            ]
            for pool in pools
        ],
    )
    report.line(
        "bare, mean per job: "
        f"pg_dump -Fc {report.median([r.dump_seconds for r in bare_runs]):.3f} s, "
        f"split {report.median([r.split_seconds for r in bare_runs]):.3f} s, "
        f"curl {report.median([r.upload_seconds for r in bare_runs]):.3f} s (medians)"
    )
    verdicts = []
    for pool in pools:
        overhead = overhead_per_job(pool, bare_seconds)
        if overhead is not None:
            verdicts.append(
                {
                    "what": "worker overhead per job (1 pool slot)",
                    "measured": round(overhead, 4),
                    "target": target,
                    "verdict": report.verdict(overhead, target),
                }
            )
    report.table(
        "Targets",
        ["what", "measured s", "target s (at most)", "verdict"],
        [[v["what"], v["measured"], v["target"], v["verdict"]] for v in verdicts],
    )
    return {
        "benchmark": "small_jobs",
        "environment": report.environment(),
        "databases": names,
        "jobs": jobs,
        "bare": {
            "seconds": round(bare_seconds, 3),
            "seconds_per_job": round(bare_seconds / jobs, 4),
            "jobs_per_minute": round(jobs / bare_seconds * 60, 1),
            "mean_size_bytes": round(mean_size),
        },
        "worker": [
            {**pool.to_json(), "overhead_per_job_seconds": overhead_per_job(pool, bare_seconds)}
            for pool in pools
        ],
        "verdicts": verdicts,
    }
