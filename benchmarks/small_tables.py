"""The tables of benchmarks.small_jobs, and its JSON document."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from benchmarks import baseline, report

if TYPE_CHECKING:
    from benchmarks.small_jobs import PoolRun


def overhead_per_job(pool: PoolRun, bare_seconds: float) -> float | None:
    """(worker wall - bare wall) / jobs; only meaningful when jobs ran one at a time."""
    if pool.concurrency != 1:
        return None
    return (pool.seconds - bare_seconds) / pool.jobs


@dataclass(frozen=True)
class Round:
    """The baseline, then each pool size, back to back."""

    bare_seconds: float
    bare_runs: list[baseline.NaiveRun]
    pools: list[PoolRun]

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict: wall times, the ratio worker / bare and the overhead per job."""
        return {
            "bare_seconds": round(self.bare_seconds, 3),
            "worker": [
                {
                    **pool.to_json(),
                    "over_bare": round(report.ratio(pool.seconds, self.bare_seconds), 4),
                    "overhead_per_job_seconds": overhead_per_job(pool, self.bare_seconds),
                }
                for pool in self.pools
            ],
        }


def per_pool(rounds: list[Round], position: int) -> dict[str, dict[str, float]]:
    """Median and min-max over the rounds of one pool size's figures (its ratio to the bare run
    of the same round, and its overhead per job when it had one slot)."""
    pools = [one.pools[position] for one in rounds]
    overheads = [
        overhead_per_job(p, one.bare_seconds) for p, one in zip(pools, rounds, strict=True)
    ]
    figures = {
        "seconds": report.spread([p.seconds for p in pools]),
        "jobs_per_minute": report.spread([p.jobs_per_minute for p in pools]),
        "over_bare": report.spread(
            report.per_round([p.seconds for p in pools], [one.bare_seconds for one in rounds])
        ),
    }
    if all(value is not None for value in overheads):
        figures["overhead_per_job_seconds"] = report.spread([v or 0.0 for v in overheads])
    return figures


def show(
    names: list[str], rounds: list[Round], target: float, load_before: list[float]
) -> dict[str, object]:
    """Print the rounds' medians, the last round's breakdown and the target; return the JSON."""
    env = report.environment()
    env["load_average_before"] = load_before
    env["load_average_after"] = env.pop("load_average")
    report.line(report.describe(env | {"load_average": f"{load_before} before, now"}))
    figures = [per_pool(rounds, n) for n in range(len(rounds[-1].pools))]
    report.table(
        f"{len(rounds)} interleaved rounds: medians (min-max)",
        ["", "wall s", "jobs/min", "x bare (per round)", "overhead per job ms"],
        [
            [
                "bare pg_dump -Fc + curl, one at a time",
                report.shown(report.spread([one.bare_seconds for one in rounds])),
                "-",
                "-",
                "-",
            ],
            *(
                [
                    f"worker, {pool.concurrency} pool slot(s)",
                    report.shown(one["seconds"]),
                    report.shown(one["jobs_per_minute"], 0),
                    report.shown(one["over_bare"], 3),
                    report.shown(
                        {k: v * 1000 for k, v in one["overhead_per_job_seconds"].items()}, 1
                    )
                    if "overhead_per_job_seconds" in one
                    else "-",
                ]
                for pool, one in zip(rounds[-1].pools, figures, strict=True)
            ),
        ],
    )
    document = _last_round(names, rounds[-1], target, figures)
    document["environment"] = env
    document["rounds"] = [one.to_json() for one in rounds]
    document["medians"] = [
        {"concurrency": pool.concurrency, **one}
        for pool, one in zip(rounds[-1].pools, figures, strict=True)
    ]
    return document


def _last_round(
    names: list[str], last: Round, target: float, figures: list[dict[str, dict[str, float]]]
) -> dict[str, object]:
    bare_seconds, bare_runs, pools = last.bare_seconds, last.bare_runs, last.pools
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
        f"Last round: {jobs} backups of {len(names)} small databases"
        f" (pg_dump -Fc {report.mb(mean_size)} each)",
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
    for one in figures:
        if "overhead_per_job_seconds" in one:
            overhead = one["overhead_per_job_seconds"]["median"]
            verdicts.append(
                {
                    "what": "worker overhead per job (1 pool slot, median of rounds)",
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
