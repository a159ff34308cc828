"""How long the `backup-worker` command takes to start, and to enqueue one backup.

    python -m benchmarks.cli_start              # 7 rounds of each
    python -m benchmarks.cli_start --rounds 15  # tighter figures on a busy machine
    python -m benchmarks.cli_start --versus OLD # and an older backup-worker, in the same rounds

Two series, each interleaved with the interpreter floor, `python -c pass` (same interpreter), so
that a load spike on the machine hits the floor and the command alike: floor, command, floor,
command, ... One untimed run of each comes first (page cache, .pyc files).

1. `backup-worker --help`.
2. `backup-worker backup --project P --database D --json` (enqueue only, no --wait) against a
   scratch control-plane database migrated to head and a Redis database of its own; each run
   must print a pending job, and the queue must hold one message per run (it is dropped after).

With `--versus OLD` (the console script of another checkout, e.g. a `git worktree` of an older
commit with its own `make install`), each round also runs OLD's command right after this one's,
so that the two see the same load: floor, command, old command, floor, old command, command, ...

Per command: median and min-max wall time, and the median (min-max) of the per-round ratio
command / floor, which carries over between machines better than seconds do; also the median
CPU time (user + system) of the command, which a busy machine inflates less than wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import redis

from benchmarks import report, rig
from tests.support import scratch

DEFAULT_ROUNDS = 7
MIN_ROUNDS = 5  # fewer gives no median worth printing
TARGET_HELP = 0.3  # seconds, median of `backup-worker --help`
TARGET_ENQUEUE = 0.5  # seconds, median of `backup-worker backup ... --json` without --wait
QUEUE = "celery"  # Celery's default queue, where backups.create goes
FLOOR = (sys.executable, "-c", "pass")
CLI = str(Path(sys.executable).with_name("backup-worker"))  # the console script of this venv
HELP = ("--help",)
ENQUEUE = ("backup", "--project", "bench-cli", "--database", "bench_cli_db", "--json")


@dataclass(frozen=True)
class Series:
    """Interleaved wall times, in seconds: `floor[i]` was taken just before `command[i]`;
    `cpu[i]` is the CPU time (user + system) of `command[i]`."""

    name: str
    floor: tuple[float, ...]
    command: tuple[float, ...]
    cpu: tuple[float, ...] = ()

    def ratios(self) -> list[float]:
        """command / floor, round by round."""
        return report.per_round(self.command, self.floor)

    def to_json(self) -> dict[str, object]:
        """Median and min-max of the command, of the floor and of the per-round ratio."""
        return {
            "command": self.name,
            "rounds": len(self.command),
            "seconds": spread(self.command),
            "floor_seconds": spread(self.floor),
            "ratio_to_floor": spread(self.ratios()),
            "cpu_seconds": spread(self.cpu) if self.cpu else None,
        }


spread = report.spread  # rounded to the millisecond's tenth (ratios to 0.1 %)


@dataclass(frozen=True)
class Run:
    """One run of a command."""

    seconds: float  # wall time
    cpu: float  # user + system time of the child
    out: str  # its stdout


def wall(argv: Sequence[str], env: Mapping[str, str]) -> Run:
    """Run `argv` once. A failing command stops the benchmark."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=dict(env), capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-2000:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return Run(seconds, cpu, done.stdout)


class CheckOutput:
    """What a run must have printed; counts the runs it saw."""

    def __init__(self, pending_job: bool) -> None:
        self.pending_job = pending_job
        self.runs = 0

    def __call__(self, out: str) -> None:
        self.runs += 1
        if not self.pending_job:
            if "Usage:" not in out:
                raise RuntimeError(f"--help printed no usage: {out[:200]!r}")
            return
        printed = json.loads(out)
        if printed.get("status") != "pending" or not printed.get("job_id"):
            raise RuntimeError(f"the backup was not enqueued: {out!r}")


def interleaved(
    name: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    rounds: int,
    check: CheckOutput,
    versus: Sequence[str] | None = None,
) -> list[Series]:
    """One warm-up of each, then `rounds` of floor, command (and `versus`, the same command
    of another backup-worker, named "NAME (versus)")."""
    commands = [(name, argv)] + ([(f"{name} (versus)", versus)] if versus else [])
    wall(FLOOR, env)
    for _, each in commands:
        check(wall(each, env).out)
    floor: list[float] = []
    runs: dict[str, list[Run]] = {label: [] for label, _ in commands}
    for turn in range(rounds):
        floor.append(wall(FLOOR, env).seconds)
        # Every other round the other one goes first: the first run after the floor was seen
        # to run slower, which would otherwise count against one of them only.
        for label, each in commands if turn % 2 == 0 else commands[::-1]:
            runs[label].append(wall(each, env))
            check(runs[label][-1].out)
    return [
        Series(
            label,
            tuple(floor),
            tuple(run.seconds for run in done),
            tuple(run.cpu for run in done),
        )
        for label, done in runs.items()
    ]


def base_env() -> dict[str, str]:
    """This environment without the worker's own settings, so that only ours apply."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TELEGRAM_", "BACKUP_", "CELERY_", "DATABASE_URL"))
    }


def enqueue_series(cli: str, rounds: int, versus: str | None = None) -> list[Series]:
    """`backup ... --json` against a scratch control plane and Redis database."""
    with scratch.database("bwbench_", migrated=True) as url, scratch.redis_database() as number:
        broker = scratch.redis_url(number)
        env = base_env()
        env.update(
            DATABASE_URL=url,
            CELERY_BROKER_URL=broker,
            CELERY_RESULT_BACKEND=broker,
            TELEGRAM_CHAT_ID=rig.CHAT,
            BACKUP_ENCRYPTION="off",  # the backup refuses without recipients otherwise
        )
        check = CheckOutput(pending_job=True)
        client = redis.Redis(host="127.0.0.1", port=6379, db=number)
        try:
            other = (versus, *ENQUEUE) if versus else None
            series = interleaved("backup --json", (cli, *ENQUEUE), env, rounds, check, other)
            queued = client.llen(QUEUE)
            if queued != check.runs:
                raise RuntimeError(f"{check.runs} backups enqueued, {queued} messages queued")
        finally:
            client.delete(QUEUE)  # drained: no worker will ever run these
            client.close()
    return series


def show(series: Sequence[Series], targets: Mapping[str, float]) -> dict[str, object]:
    """Print the table and the verdicts; return the JSON document."""
    env = report.environment()
    report.line(report.describe(env))
    rows = []
    verdicts = []
    for one in series:
        seconds, ratio = spread(one.command), spread(one.ratios())
        rows.append(
            [
                one.name,
                len(one.command),
                seconds["median"],
                f"{seconds['min']:.3f}-{seconds['max']:.3f}",
                report.median(one.floor),
                ratio["median"],
                f"{ratio['min']:.1f}-{ratio['max']:.1f}",
                report.median(one.cpu),
            ]
        )
        limit = targets[one.name.removesuffix(" (versus)")]
        verdict = report.verdict(seconds["median"], limit)
        verdicts.append(
            {"what": one.name, "median": seconds["median"], "target": limit, "verdict": verdict}
        )
    report.table(
        "CLI wall time (s), interleaved with the floor `python -c pass`",
        ["command", "rounds", "median", "min-max", "floor", "x floor", "x min-max", "cpu"],
        rows,
    )
    for item in verdicts:
        report.line(
            f"{item['what']}: median {item['median']:.3f} s, "
            f"target <= {item['target']} s: {item['verdict']}"
        )
    return {
        "benchmark": "cli_start",
        "environment": env,
        "results": [one.to_json() for one in series],
        "verdicts": verdicts,
    }


def rounds_arg(value: str) -> int:
    """--rounds: at least MIN_ROUNDS."""
    rounds = int(value)
    if rounds < MIN_ROUNDS:
        raise argparse.ArgumentTypeError(f"at least {MIN_ROUNDS} rounds")
    return rounds


def main(argv: list[str] | None = None) -> int:
    """The command line."""
    run(argv)
    return 0


def run(argv: list[str] | None = None) -> dict[str, object]:
    """Time both series, print them; return the JSON document."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.cli_start",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rounds", type=rounds_arg, default=DEFAULT_ROUNDS)
    parser.add_argument(
        "--cli",
        default=CLI,
        help="the backup-worker to time (default: this venv's), e.g. an older one",
    )
    parser.add_argument(
        "--versus",
        help="another backup-worker, e.g. an older commit's, timed in the same rounds",
    )
    parser.add_argument("--json-out", type=Path, help="also write the JSON document here")
    args = parser.parse_args(argv)
    report.line(f"timing `{args.cli} --help`, {args.rounds} rounds")
    usage = CheckOutput(pending_job=False)
    other = (args.versus, *HELP) if args.versus else None
    helped = interleaved("--help", (args.cli, *HELP), base_env(), args.rounds, usage, other)
    report.line(f"timing `{args.cli} backup ... --json`, {args.rounds} rounds")
    enqueued = enqueue_series(args.cli, args.rounds, args.versus)
    targets = {"--help": TARGET_HELP, "backup --json": TARGET_ENQUEUE}
    document = show([*helped, *enqueued], targets)
    report.emit(document, args.json_out)
    return document


if __name__ == "__main__":
    sys.exit(main())
