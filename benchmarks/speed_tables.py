"""The tables of benchmarks.backup_speed, and its JSON document."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmarks import compression, overlap, report
from worker.contract import tasks

if TYPE_CHECKING:
    from benchmarks.speed_result import SizeResult


def show(
    results: list[SizeResult],
    *,
    level: int,
    threads: int,
    concurrency: int,
    targets: dict[str, float],
    load_before: list[float],
) -> dict[str, object]:
    """Print the comparison, the breakdown, memory, the compression table and the targets."""
    env = report.environment()
    env["load_average_before"] = load_before
    env["load_average_after"] = env.pop("load_average")
    report.line(report.describe(env | {"load_average": f"{load_before} before, now"}))
    report.line(
        f"worker: zstd level {level}, {threads} zstd thread(s), {concurrency} pool thread(s)"
    )
    report.table(
        "A worker, B naive script, C floor: medians of interleaved rounds (min-max)",
        ["database", "rounds", "A/B", "A/C", "A s", "B s", "C s", "artifact", "pg_dump -Fc"],
        [
            [
                f"{r.database.name} ({report.mb(r.database.size_bytes)})",
                len(r.workers),
                report.shown(report.spread(r.a_over_b), 3),
                report.shown(report.spread(r.a_over_c), 3),
                report.shown(report.spread([w.seconds for w in r.workers])),
                report.shown(report.spread([n.seconds for n in r.naives])),
                report.shown(report.spread([f.seconds for f in r.floors])),
                report.mb(r.workers[-1].size_bytes),
                report.mb(r.naives[-1].size_bytes),
            ]
            for r in results
        ],
    )
    for r in results:
        report.table(
            f"{r.database.name}: every round (wall s; CPU s: A the worker and its pg_dump,"
            " B the tools, C pg_dump; the server backend in none)",
            ["round", "C", "B", "A", "A/B", "A/C", "A: dump", "C cpu", "B cpu", "A cpu", "load"],
            [
                [
                    row["round"],
                    row["c_seconds"],
                    row["b_seconds"],
                    row["a_seconds"],
                    row["a_over_b"],
                    row["a_over_c"],
                    row["a_dump_seconds"],
                    row["c_cpu_seconds"],
                    row["b_cpu_seconds"],
                    row["a_cpu_seconds"],
                    row["load_average_before"],
                ]
                for row in r.rounds()
            ],
        )
    report.table(
        "Where the time goes (seconds, last run)",
        [
            "database",
            "A: dump",
            "upload",
            "record",
            "create",
            "outside tasks",
            "jobs-row writes",
            "B: pg_dump -Fc",
            "split",
            "curl",
        ],
        [_breakdown(r) for r in results],
    )
    report.table(
        "Worker memory: the process tree (the celery worker and its pg_dump)",
        ["database", "idle RSS", "peak RSS", "peak PSS", "processes at peak"],
        [
            [
                r.database.name,
                report.mb(r.workers[-1].idle.rss_bytes),
                report.mb(r.peak_rss),
                report.mb(r.peak_pss),
                ", ".join(
                    f"{p.name} {p.rss_bytes / 1e6:.0f}" for p in r.workers[-1].peak.processes
                ),
            ]
            for r in results
        ],
    )
    for r in results:
        _overlap(r)
        _levels(r)
    verdicts = _targets(results, targets)
    return {
        "benchmark": "backup_speed",
        "environment": env,
        "worker": {"zstd_level": level, "zstd_threads": threads, "concurrency": concurrency},
        "targets": targets,
        "verdicts": verdicts,
        "results": [r.to_json() for r in results],
    }


def _breakdown(r: SizeResult) -> list[object]:
    run, naive = r.workers[-1], r.naives[-1]
    return [
        r.database.name,
        run.tasks.get(tasks.DUMP, 0.0),
        run.tasks.get(tasks.UPLOAD, 0.0),
        run.tasks.get(tasks.RECORD, 0.0),
        run.tasks.get(tasks.CREATE, 0.0),
        run.overhead_seconds,
        run.job_writes,
        naive.dump_seconds,
        naive.split_seconds,
        naive.upload_seconds,
    ]


def _overlap(r: SizeResult) -> None:
    rows: list[list[object]] = []
    measured = r.overlap_run
    if measured is not None:
        shown = measured.to_json()
        rows.append(
            [
                "measured in-process: the worker's PartSender"
                f" (medians, {report.mb(measured.size_bytes / max(measured.parts, 1))} parts)",
                shown["sequential_seconds"],
                shown["overlapped_seconds"],
                shown["saved_seconds"],
                f"{'/'.join(str(n) for n in measured.early)} of {measured.parts}",
            ]
        )
        for mbps in overlap.UPLINKS_MBPS:
            model = measured.uplink_model(mbps)
            rows.append(
                [
                    f"simulated: PartSender, measured dump, sends at {mbps} MB/s",
                    round(model.sequential, 3),
                    round(model.overlapped, 3),
                    round(model.sequential - model.overlapped, 3),
                    f"{model.early} of {measured.parts}",
                ]
            )
    report.table(
        f"{r.database.name}: uploading parts while the dump runs (seconds)",
        ["", "dump then upload", "overlapped", "saved", "parts sent during the dump"],
        rows,
    )


def _pipelines(r: SizeResult) -> None:
    if not r.pipelines:
        return
    report.table(
        f"{r.database.name}: does compression hold pg_dump back? (in-process, C just before)",
        ["zstd level", "threads", "pipeline s", "C s", "pipeline / C", "waiting for pg_dump"],
        [
            [
                run.level,
                run.threads,
                run.seconds,
                floor,
                report.ratio(run.seconds, floor),
                f"{report.ratio(run.waiting_seconds, run.seconds):.0%}",
            ]
            for floor, run in r.pipelines
        ],
    )


def _levels(r: SizeResult) -> None:
    _pipelines(r)
    if not r.levels:
        return
    dump_rate = float(str(r.recommendation.get("dump_mb_per_s", 0))) * 1e6
    report.table(
        f"{r.database.name}: zstd on a dump sample (C: {dump_rate / 1e6:.0f} MB/s)",
        [
            "codec",
            "level",
            "threads",
            "MB/s in",
            "CPU s",
            "ratio",
            f"keeps up ({compression.HEADROOM}x)",
        ],
        [
            [
                m.codec,
                m.level,
                m.threads,
                m.rate / 1e6,
                m.cpu_seconds,
                m.ratio,
                "yes" if m.rate >= dump_rate * compression.HEADROOM else "no",
            ]
            for m in r.levels
        ],
    )
    rec = r.recommendation
    report.line(
        f"chosen by measurement: level {rec.get('level')} (the lowest whose artifact is no larger"
        f" than pg_dump -Fc's, ratio {rec.get('pg_dump_fc_ratio')}), {rec.get('threads')} zstd"
        f" thread(s) ({'keeps' if rec.get('keeps_up') else 'does NOT keep'} up with pg_dump"
        f" at {rec.get('headroom')}x); details in the JSON"
    )


def _targets(results: list[SizeResult], targets: dict[str, float]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for r in results:
        name = r.database.name
        checks = [
            ("A/B", report.median(r.a_over_b), targets["a_over_b"]),
            ("A/C", report.median(r.a_over_c), targets["a_over_c"]),
            ("artifact / pg_dump -Fc", r.workers[-1].size_bytes / r.naives[-1].size_bytes, 1.0),
            ("peak RSS MB", r.peak_rss / 1e6, targets["peak_bytes"] / 1e6),
            ("peak PSS MB", r.peak_pss / 1e6, targets["peak_bytes"] / 1e6),
        ]
        rows += [
            {
                "database": name,
                "what": what,
                "measured": round(value, 3),
                "target": limit,
                "verdict": report.verdict(value, limit),
            }
            for what, value, limit in checks
        ]
    if len(results) > 1:
        for what, values in (
            ("peak RSS spread", [r.peak_rss for r in results]),
            ("peak PSS spread", [r.peak_pss for r in results]),
        ):
            spread = (max(values) - min(values)) / min(values)
            rows.append(
                {
                    "database": "all sizes",
                    "what": what,
                    "measured": round(spread, 3),
                    "target": targets["peak_spread"],
                    "verdict": report.verdict(spread, targets["peak_spread"]),
                }
            )
    report.table(
        "Targets (ratios: medians of the per-round ratios)",
        ["database", "what", "measured", "target (at most)", "verdict"],
        [
            [row["database"], row["what"], row["measured"], row["target"], row["verdict"]]
            for row in rows
        ],
    )
    return rows
