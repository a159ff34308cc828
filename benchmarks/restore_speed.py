"""Restore speed: the worker (A) against `pg_restore` (B) and `pg_restore -jN` (C) of a local file.

    python -m benchmarks.restore_speed                  # the ~400 MB database (make bench-restore)
    python -m benchmarks.restore_speed --size-mb 50     # quick, on a busy machine
    python -m benchmarks.restore_speed --link 100mbit   # over a link (standin.link)

The database is backed up once by the worker (untimed). A: `backups.restore` into a new database,
sent as the gateway sends it to a real `celery worker` subprocess on a real Redis broker, timed
from enqueue to the completed jobs row: download from the stand-in, checks, decrypt and
decompress to the local archive, `pg_restore --jobs` (RESTORE_JOBS: the host's cores), the table
check. B and C: `CREATE DATABASE`, then `pg_restore --exit-on-error` (B) or with `--jobs=N`, N the
host's cores (C), of a local `pg_dump -Fc -Z0` file of the same database (uncompressed, so the
baselines spend nothing on decompression: the strongest floor). Rounds are interleaved (C, B, A,
then again) so that a change in the machine's load touches all three alike; each round's A/C
and A/B are computed, and their median and range reported. Every restored database is dropped.
Over a link (--link), the stand-in enforces Telegram's limits too, and each round's floor is C plus
the artifact's bytes over the link's bandwidth: the download no restore can avoid (issue 22).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import baseline, datagen, jobrun, report, rig
from standin import link
from worker.contract import tasks
from worker.postgres import source

DEFAULT_SIZE_MB = 400
DEFAULT_ROUNDS = 5
TARGET_A_OVER_C = 1.25  # the worker at most this much slower than pg_restore -jN
TARGET_A_OVER_FLOOR = 1.1  # over a link: at most this much slower than C + the download
PROJECT = "bench-restore"
TARGET_PREFIX = "bwrestore_"  # the databases each run restores into (dropped after it)


@dataclass
class Round:
    """One round: seconds of C, B and A, run one after the other."""

    c: float
    b: float
    a: float
    a_phases: dict[str, float] = field(default_factory=dict)  # the job's phase_seconds
    link_seconds: float = 0.0  # the artifact's bytes over the link's bandwidth (0: loopback)

    @property
    def floor(self) -> float:
        """pg_restore -jN of a local file, plus the artifact's bytes over the link."""
        return self.c + self.link_seconds

    def a_other(self) -> float:
        """A's seconds outside its download and pg_restore: messages, jobs rows, the target's
        checks, CREATE DATABASE, the table check."""
        return self.a - self.a_phases.get("download", 0.0) - self.a_phases.get("pg_restore", 0.0)

    def to_json(self) -> dict[str, object]:
        return {
            "c_pg_restore_jn_seconds": round(self.c, 3),
            "b_pg_restore_seconds": round(self.b, 3),
            "a_worker_seconds": round(self.a, 3),
            "a_phase_seconds": self.a_phases,
            "a_other_seconds": round(self.a_other(), 3),
            "a_over_c": round(report.ratio(self.a, self.c), 3),
            "a_over_b": round(report.ratio(self.a, self.b), 3),
            "floor_seconds": round(self.floor, 3),
            "a_over_floor": round(report.ratio(self.a, self.floor), 3),
        }


@dataclass
class Result:
    """Every round on one database, and what the backup and the archive weigh."""

    database: datagen.SourceDatabase
    jobs: int
    archive_bytes: int = 0
    artifact_bytes: int = 0
    parts: int = 0
    link_rate: float | None = None  # bytes/s between worker and stand-in; None: loopback
    rounds: list[Round] = field(default_factory=list)

    def ratios(self, which: str) -> list[float]:
        return [report.ratio(r.a, getattr(r, which)) for r in self.rounds]

    def to_json(self) -> dict[str, object]:
        a_c, a_b = self.ratios("c"), self.ratios("b")
        return {
            "link_bytes_per_second": self.link_rate,
            "a_over_floor_spread": report.spread(self.ratios("floor")),
            "database": self.database.to_json(),
            "pg_restore_jobs": self.jobs,
            "archive_bytes": self.archive_bytes,
            "artifact_bytes": self.artifact_bytes,
            "parts": self.parts,
            "median_a_over_c": round(report.median(a_c), 3),
            "range_a_over_c": [round(min(a_c), 3), round(max(a_c), 3)],
            "median_a_over_b": round(report.median(a_b), 3),
            "range_a_over_b": [round(min(a_b), 3), round(max(a_b), 3)],
            "median_seconds": {
                "a_worker": round(report.median([r.a for r in self.rounds]), 3),
                "b_pg_restore": round(report.median([r.b for r in self.rounds]), 3),
                "c_pg_restore_jn": round(report.median([r.c for r in self.rounds]), 3),
            },
            "rounds": [r.to_json() for r in self.rounds],
        }


def pg_restore(params: source.SourceParams, archive: Path, jobs: int) -> float:
    """Seconds of CREATE DATABASE and `pg_restore [--jobs]` of `archive` into it; dropped after."""
    name = f"{TARGET_PREFIX}{uuid.uuid4().hex[:8]}"
    extra = [f"--jobs={jobs}"] if jobs > 1 else []
    argv = ["pg_restore", "--exit-on-error", "--no-password", *extra]
    started = time.perf_counter()
    _admin(params, f'CREATE DATABASE "{name}" TEMPLATE template0')
    try:
        dbname = f"--dbname={params.conninfo(name)}"
        subprocess.run([*argv, dbname, str(archive)], env=params.env(), check=True)
        return time.perf_counter() - started
    finally:
        _admin(params, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def worker_restore(
    bench: rig.Bench, params: source.SourceParams, backup_id: uuid.UUID
) -> tuple[float, dict[str, float]]:
    """Seconds from sending backups.restore into a new database to its completed jobs row, and
    the job's own account of them (its phase_seconds)."""
    name = f"{TARGET_PREFIX}{uuid.uuid4().hex[:8]}"
    started = time.time()
    job_id = uuid.UUID(bench.publish(tasks.RestoreBackup(PROJECT, backup_id, name)))
    try:
        while bench.job(job_id) is None:  # the worker creates the row, as for the gateway's
            time.sleep(jobrun.POLL)
        row = jobrun.wait(bench, job_id)
    finally:
        _admin(params, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finished_at = row["finished_at"]
    assert hasattr(finished_at, "timestamp")
    summary = row["result"]["restore"]  # type: ignore[index]
    phases = {str(k): float(v) for k, v in summary.get("phase_seconds", {}).items()}
    return float(finished_at.timestamp()) - started, phases


def measure(args: argparse.Namespace) -> Result:
    """The database, its backup and local file, then `rounds` rounds of C, B, A."""
    params = datagen.source_params()
    database = datagen.ensure(params, args.size_mb, jobs=args.jobs)
    jobs = os.cpu_count() or 1
    linked = None if args.link == "none" else link.PROFILES[args.link]
    result = Result(database, jobs, link_rate=None if linked is None else linked.rate)
    name = database.name
    with (
        rig.stack(
            limits=None if linked is None else "telegram",
            link=None if linked is None else args.link,
        ) as bench,
        rig.worker(bench, RESTORE_TARGET_NAMES=f"{TARGET_PREFIX}*"),
    ):
        report.line(f"{name}: {report.mb(database.size_bytes)}; backing it up (untimed)")
        backup_job = bench.enqueue(PROJECT, name)
        row = jobrun.wait(bench, backup_job)
        summary = row["result"]["backup"]  # type: ignore[index]
        result.artifact_bytes = int(summary["size_bytes"])
        result.parts = int(summary["part_count"])
        backup_id = uuid.UUID(str(summary["id"]))
        over_link = 0.0 if linked is None else result.artifact_bytes / linked.rate
        with tempfile.TemporaryDirectory(dir=bench.tmp) as tmp:
            archive = Path(tmp) / "local.pgdump"
            dump = baseline.pg_dump_argv(params, name, "--compress=0", f"--file={archive}")
            subprocess.run(dump, env=params.env(), check=True)
            result.archive_bytes = archive.stat().st_size
            report.line(f"warming up: one untimed run each ({report.mb(result.archive_bytes)})")
            pg_restore(params, archive, jobs)
            worker_restore(bench, params, backup_id)
            for number in range(args.rounds):
                report.line(f"round {number + 1} of {args.rounds}: C, B, A")
                c = pg_restore(params, archive, jobs)
                b = pg_restore(params, archive, 1)
                a, phases = worker_restore(bench, params, backup_id)
                result.rounds.append(Round(c, b, a, phases, link_seconds=over_link))
                shown = ", ".join(f"{name} {seconds:.2f}" for name, seconds in phases.items())
                report.line(
                    f"  C {c:.1f} s, B {b:.1f} s, A {a:.1f} s ({shown}), A/C {a / c:.3f},"
                    f" A/(C + link) {a / (c + over_link):.3f}"
                )
    return result


def show(result: Result) -> dict[str, object]:
    """Print the tables; return the JSON document."""
    env = report.environment()
    body = result.to_json()
    report.table(
        f"Restore of {result.database.name} ({report.mb(result.database.size_bytes)}), "
        f"{env['taken_at']}, {env['host']}, {env['cpus']} cores, load {env['load_average']}",
        [
            *("round", "C pg_restore -j" + str(result.jobs), "B pg_restore", "A worker"),
            *("A download", "A pg_restore", "A other", "A/C", "A/B"),
        ],
        [
            [
                *(n + 1, r.c, r.b, r.a, r.a_phases.get("download", 0.0)),
                *(r.a_phases.get("pg_restore", 0.0), r.a_other()),
                *(report.ratio(r.a, r.c), report.ratio(r.a, r.b)),
            ]
            for n, r in enumerate(result.rounds)
        ],
    )
    a_c = body["median_a_over_c"]
    assert isinstance(a_c, float)
    report.line(
        f"A/C median {a_c:.3f} (range {body['range_a_over_c']}), target <= {TARGET_A_OVER_C}: "
        f"{report.verdict(a_c, TARGET_A_OVER_C)}; A/B median {body['median_a_over_b']} "
        f"(range {body['range_a_over_b']})"
    )
    return {
        "benchmark": "restore_speed",
        "environment": env,
        "target_a_over_c": TARGET_A_OVER_C,
        "target_a_over_floor": TARGET_A_OVER_FLOOR,
        "met": a_c <= TARGET_A_OVER_C,
        **body,
    }


def _admin(params: source.SourceParams, statement: str) -> None:
    conn = datagen.connect(params)
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.restore_speed",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--size-mb", type=int, default=DEFAULT_SIZE_MB, help="database size")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="rounds of C, B, A")
    parser.add_argument("--jobs", type=int, default=2, help="processes generating data")
    parser.add_argument(
        "--link",
        choices=["none", *sorted(link.PROFILES)],
        default="none",
        help="a link between worker and stand-in (standin.link), with Telegram's limits enforced",
    )
    parser.add_argument("--json-out", type=Path, help="also write the JSON document here")
    return parser


def run(argv: list[str] | None = None) -> dict[str, object]:
    """Run the benchmark, print its tables and JSON; return the JSON document."""
    args = _parser().parse_args(argv)
    if args.rounds < 1:
        raise SystemExit("--rounds must be at least 1")
    document = show(measure(args))
    report.emit(document, args.json_out)
    return document


def main(argv: list[str] | None = None) -> int:
    """The command line."""
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
