"""Backup speed and memory: the worker (A) against the naive script (B) and the floor (C).

    python -m benchmarks.backup_speed                    # the ~400 MB database   (make bench)
    python -m benchmarks.backup_speed --large            # and the ~1.5 GB one   (make bench-large)
    python -m benchmarks.backup_speed --size-mb 50       # small, while developing

A: `backups.create` enqueued as the gateway does, run by a real `celery worker` subprocess on a
real Redis broker, timed to the completed jobs row; the worker's process tree is sampled every 50
ms for memory. B: `pg_dump -Fc` + `split -b 20M` + `curl` per part (benchmarks/baseline.py). C:
`pg_dump -Fc -Z0`, its output read from a pipe and dropped. All three dump the same database to the
same stand-in, in one run, after one untimed dump has warmed the page cache, interleaved in rounds
(C, B, A, C, B, A, ...; --repeat, 5 by default). The figures are the median and min-max of the
per-round ratios A/B and A/C: a load spike on a shared machine then weighs on both sides of the one
ratio it hits.
Then, in-process (benchmarks/overlap.py): dump-then-upload against the worker's PartSender, which
sends parts while the dump runs, and that strategy simulated at 10 and 50 MB/s uplinks.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from benchmarks import (
    baseline,
    compression,
    datagen,
    jobrun,
    overlap,
    pipeline,
    report,
    rig,
    speed_result,
    speed_tables,
)
from standin import link
from worker import defaults, settings
from worker.postgres import source

DEFAULT_SIZE_MB = 400
LARGE_SIZE_MB = 1500
TARGET_A_OVER_B = 0.30
TARGET_A_OVER_C = 1.6
TARGET_PEAK_BYTES = 200_000_000
TARGET_PEAK_SPREAD = 0.10  # peak memory may differ this much between database sizes
LEVELS = [1, 2, 3, 4, 5, 6, 8]
THREADS = [0, 1, 2]
DEFAULT_ROUNDS = 5
MIN_ROUNDS = 5  # fewer gives no median worth quoting (allowed, with a warning, for checks)


def measure(args: argparse.Namespace) -> list[speed_result.SizeResult]:
    """Generate (or find) the databases, then run rounds of C, B and A on each."""
    params = datagen.source_params()
    if args.drop_cache:
        for name in datagen.drop_cached(params):
            report.line(f"dropped cached database {name}")
    sizes = list(args.size_mb or [DEFAULT_SIZE_MB]) + ([LARGE_SIZE_MB] if args.large else [])
    label = "" if args.scale == 1 else "scaled"
    linked = None if args.link == "none" else link.PROFILES[args.link]
    results = [
        speed_result.SizeResult(
            datagen.ensure(params, size, label=label, jobs=args.jobs, scale=args.scale),
            link_rate=None if linked is None else linked.rate,
            part_size=args.part_size or defaults.CLOUD_DOWNLOAD_LIMIT,
        )
        for size in sizes
    ]
    overrides = _compression_env(args)
    with (
        # Over a link, the stand-in enforces Telegram's limits too: what ships meets both.
        rig.stack(
            limits=None if linked is None else "telegram",
            link=None if linked is None else args.link,
        ) as bench,
        # --concurrency: the pool size this run measures.
        rig.worker(bench, f"--concurrency={args.concurrency}", **overrides) as running,
        rig.scheduled(bench, enabled=linked is not None),
    ):
        report.line("warming the worker up: one small backup per pool slot")
        jobrun.warm_up(bench, datagen.ensure_tiny(params), args.concurrency)
        # Over a link the groups' 20 a minute hold: each timed run starts with room for its parts.
        groups = {
            "A": rig.GroupBudget(bench.standin.url, rig.CHAT),
            "B": rig.GroupBudget(bench.standin.url, rig.NAIVE_CHAT),
        }
        for result in results:
            name = result.database.name
            report.line(f"{name}: {report.mb(result.database.size_bytes)}, warming the cache")
            baseline.floor(params, name)
            for number in range(args.repeat):
                report.line(
                    f"{name}: round {number + 1} of {args.repeat}: C, B, A"
                    f" (load average {report.load_average()})"
                )
                result.floors.append(baseline.floor(params, name))
                if linked is not None and result.workers:
                    _settle(groups["B"], result.naives[-1].parts)
                result.naives.append(
                    baseline.naive(
                        params,
                        name,
                        bench.tmp / "naive",
                        send_document_url=bench.standin.send_document_url(),
                        chat_id=rig.NAIVE_CHAT,
                        part_size=args.part_size or baseline.NAIVE_PART_SIZE,
                    )
                )
                if linked is not None and result.workers:
                    _settle(groups["A"], result.workers[-1].parts)
                result.workers.append(jobrun.backup(bench, running, name))
                a, b = result.workers[-1], result.naives[-1]
                report.line(
                    f"{name}: A {a.seconds:.2f} s, B {b.seconds:.2f} s ({b.refused} x 429),"
                    f" C {result.floors[-1].seconds:.2f} s,"
                    f" floor {result.physical_floors[-1]:.2f} s, {a.parts} part(s)"
                )
            spread = report.shown(report.spread(result.a_over_floor), 3)
            report.line(
                f"{name}: A over the floor (dump, link, first part + 1 message/s): {spread}"
            )
            spread = report.shown(report.spread(result.a_over_issue_floor), 3)
            report.line(f"{name}: A over issue 22's floor (dump, link, 1 message/s): {spread}")
            if linked is not None:
                result.worker_refused = rig.refused(bench.standin.url, rig.CHAT)
                report.line(f"{name}: 429 answers to the worker so far: {result.worker_refused}")
            if args.overlap:
                report.line(f"{name}: in-process, dump then upload vs the worker's PartSender")
                result.overlap_run = overlap.compare(
                    bench,
                    params,
                    name,
                    _level(args),
                    _threads(args),
                    args.repeat,
                    part_size=args.overlap_part_size,
                )
            if args.levels:
                report.line(f"{name}: zstd level/threads table")
                _level_table(args, params, result, bench.tmp)
                report.line(f"{name}: the dump pipeline in-process, by zstd thread count")
                for count in args.zstd_thread_counts:
                    floor = baseline.floor(params, name).seconds
                    spool = bench.tmp / "pipeline-spool"
                    ran = pipeline.run(params, name, spool, level=_level(args), threads=count)
                    result.pipelines.append((floor, ran))
    return results


def _settle(group: rig.GroupBudget, parts: int) -> None:
    slept = group.settle(parts)
    if slept:
        report.line(f"waited {slept:.1f} s for the group's 20 messages a minute (not timed)")


def _level_table(
    args: argparse.Namespace,
    params: source.SourceParams,
    result: speed_result.SizeResult,
    tmp: Path,
) -> None:
    with tempfile.NamedTemporaryFile(dir=tmp, suffix=".sample") as handle:
        path = Path(handle.name)
        compression.take_sample(
            params,
            result.database.name,
            path,
            max_bytes=args.sample_mb * 1_000_000,
            estimate=result.workers[-1].raw_bytes or result.database.table_bytes,
        )
        result.levels = compression.table(path, args.zstd_levels, args.zstd_thread_counts)
    raw = result.workers[-1].raw_bytes
    result.recommendation = compression.recommend(
        result.levels,
        dump_rate=report.ratio(raw, result.c),
        pg_dump_fc_ratio=report.ratio(raw, result.naives[-1].size_bytes),
    )


def _compression_env(args: argparse.Namespace) -> dict[str, str]:
    env: dict[str, str] = {}
    if args.zstd_level is not None:
        env["BACKUP_ZSTD_LEVEL"] = str(args.zstd_level)
    if args.zstd_threads is not None:
        env["BACKUP_ZSTD_THREADS"] = str(args.zstd_threads)
    if args.part_size is not None:
        env["BACKUP_PART_SIZE"] = str(args.part_size)
    return env


def _level(args: argparse.Namespace) -> int:
    default = settings.Settings.model_fields["backup_zstd_level"].default
    return int(args.zstd_level if args.zstd_level is not None else default)


def _threads(args: argparse.Namespace) -> int:
    default = settings.Settings.model_fields["backup_zstd_threads"].default
    return int(args.zstd_threads if args.zstd_threads is not None else default)


def show(
    args: argparse.Namespace, results: list[speed_result.SizeResult], load_before: list[float]
) -> dict[str, object]:
    """Print the tables; return the JSON document."""
    return speed_tables.show(
        results,
        load_before=load_before,
        level=_level(args),
        threads=_threads(args),
        concurrency=args.concurrency,
        targets={
            "a_over_b": TARGET_A_OVER_B,
            "a_over_c": TARGET_A_OVER_C,
            "peak_bytes": TARGET_PEAK_BYTES,
            "peak_spread": TARGET_PEAK_SPREAD,
        },
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.backup_speed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--size-mb", type=int, action="append", help="database size (repeat)")
    parser.add_argument("--large", action="store_true", help=f"add the {LARGE_SIZE_MB} MB one")
    parser.add_argument(
        "--repeat",
        type=int,
        default=DEFAULT_ROUNDS,
        help=f"rounds of C, B, A (at least {MIN_ROUNDS} for figures worth quoting)",
    )
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool slots (threads)")
    parser.add_argument(
        "--part-size",
        type=int,
        help="bytes per part, for the worker (BACKUP_PART_SIZE) and the naive script's split",
    )
    parser.add_argument(
        "--link",
        choices=["none", *sorted(link.PROFILES)],
        default="none",
        help="a link between worker and stand-in (standin.link), with Telegram's limits enforced",
    )
    parser.add_argument("--zstd-level", type=int, help="BACKUP_ZSTD_LEVEL for the worker")
    parser.add_argument("--zstd-threads", type=int, help="BACKUP_ZSTD_THREADS for the worker")
    parser.add_argument("--no-levels", dest="levels", action="store_false")
    parser.add_argument(
        "--no-overlap", dest="overlap", action="store_false", help="skip the PartSender runs"
    )
    parser.add_argument(
        "--overlap-part-size", type=int, help="bytes, for the PartSender runs (worker's default)"
    )
    parser.add_argument("--zstd-levels", type=_ints, default=LEVELS, help="e.g. 1,3,6")
    parser.add_argument("--zstd-thread-counts", type=_ints, default=THREADS, help="e.g. 0,1,2")
    parser.add_argument("--sample-mb", type=int, default=128, help="dump sample for the table")
    parser.add_argument("--drop-cache", action="store_true", help="regenerate the databases")
    parser.add_argument("--jobs", type=int, default=2, help="processes generating data")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="rows per loading batch (below 1: tiny dbs)"
    )
    parser.add_argument("--json-out", type=Path, help="also write the JSON document here")
    return parser


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def run(argv: list[str] | None = None) -> dict[str, object]:
    """Run the benchmark, print its tables and JSON; return the JSON document."""
    args = _parser().parse_args(argv)
    if args.repeat < MIN_ROUNDS:
        report.line(f"only {args.repeat} round(s): a check of the machinery, not figures to quote")
    load_before = report.load_average()
    document = show(args, measure(args), load_before)
    report.emit(document, args.json_out)
    return document


def main(argv: list[str] | None = None) -> int:
    """The command line."""
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
