"""Fleet-scale Telegram: many backups through the pacer against Telegram's own limits.

    python -m benchmarks.fleet                         # 300 small + 5 multi-part backups
    python -m benchmarks.fleet --small 40 --large 1    # quick
    python -m benchmarks.fleet --link 1gbit            # over a link (standin.link)
    python -m benchmarks.fleet --copies 2              # BACKUP_COPIES=2 (docs/fleet.md)

The stand-in enforces the `telegram` preset (1 message/s per chat, 20/min per group, 30/s per
bot) for 2 bots in 3 groups. Scheduled backups (queue `scheduled`) run on `--workers` worker
processes of `--threads` threads; one more process (`-Q celery`, the Procfile's `worker`) takes
a backup the gateway asks for in the middle of the run. Reported: messages per minute against
the ceiling (chats x 20/min), 429 answers per sendDocument request, the pacer's wait per part
(p50/p95, from the workers' log lines), and how long the asked-for backup waited for its dump.
With `--copies N`, N-1 more repositories of as many bots and chats (TELEGRAM_REPOSITORIES_FILE)
take a copy of every backup each; each copy's messages per minute is reported against its
repository's own ceiling.
"""

from __future__ import annotations

import argparse
import collections
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

from benchmarks import datagen, jobrun, report, rig
from standin import link
from tests.support import standin
from tests.support.stack import on_shared_servers
from worker.contract import publish, request, tasks
from worker.jobs import intake

TOKENS = (  # the stand-in's bots, not real ones
    "515151:fleet-benchmark-one-not-a-real-bot-00",
    "525252:fleet-benchmark-two-not-a-real-bot-00",
)
CHATS = ("-1005151000001", "-1005151000002", "-1005151000003")
# Copy n's repository (n = 1, 2): bots and chats of its own, as many as copy 0's.
COPY_TOKENS = {
    n: tuple(f"5{n}{k}5{n}{k}:fleet-benchmark-copy{n}-bot{k}-not-real-00" for k in (1, 2))
    for n in (1, 2)
}
COPY_CHATS = {n: tuple(f"-10052{n}1000{k}" for k in range(1, 4)) for n in (1, 2)}
GROUP_PER_MINUTE = 20
LARGE_PART_SIZE = 1_000_000  # bytes: the multi-part backups' parts (a worker setting)
TARGET_429 = 0.01  # of sendDocument requests
TARGET_THROUGHPUT = 0.90  # of the ceiling
TARGET_ASKED_WAIT = 10.0  # seconds before the asked-for backup's dump starts
_WAITED = re.compile(r"sendDocument: bot \d+, chat \S+, ([0-9.]+) s waited for the pacer")


def _scheduled(bench: rig.Bench, project: str, database: str) -> uuid.UUID:
    """A pending job and its backups.create on the queue `scheduled`, as the dispatcher sends."""
    req = request.validate(project, database, None, None, None)
    sender = publish.Publisher(bench.client.send_task, queue=tasks.SCHEDULED_QUEUE)
    return intake.enqueue(bench.runtime, req, sender)


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _repositories(tmp: Path, further: range) -> dict[str, str]:
    """The worker settings of copies 1.. in repositories of their own."""
    tables = []
    for n in further:
        token_file = tmp / f"copy{n}.tokens"
        token_file.write_text(",".join(COPY_TOKENS[n]) + "\n")
        listed = ", ".join(f'"{chat}"' for chat in COPY_CHATS[n])
        tables.append(
            f'[repositories.copy{n}]\nbot_token_file = "{token_file}"\nchat_ids = [{listed}]\n'
        )
    path = tmp / "repositories.toml"
    path.write_text("\n".join(tables))
    return {"TELEGRAM_REPOSITORIES_FILE": str(path), "BACKUP_COPIES": str(len(further) + 1)}


def accepted_by_bot(documents: list[dict[str, object]]) -> dict[str, list[float]]:
    """Each bot's accepted sendDocument requests: when Telegram had each message."""
    found: dict[str, list[float]] = {}
    for entry in documents:
        if entry["status"] == 200:
            done = float(str(entry["time"])) + float(str(entry["duration"]))
            found.setdefault(str(entry["bot_id"]), []).append(done)
    return found


def _per_copy(by_bot: dict[str, list[float]], copies: int) -> list[tuple[float, float]]:
    """(messages per minute, share of its repository's ceiling) of each copy."""
    found = []
    for number in range(copies):
        bots = TOKENS if number == 0 else COPY_TOKENS[number]
        times = sorted(t for token in bots for t in by_bot.get(token.split(":")[0], []))
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        rate = (len(times) - 1) / span * 60 if span else 0.0
        found.append((rate, report.ratio(rate, len(CHATS) * GROUP_PER_MINUTE)))
    return found


def run(argv: list[str] | None = None) -> dict[str, object]:
    """Run the fleet, print the table and the JSON; return the JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.fleet",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--small", type=int, default=300, help="small (one-part) backups")
    parser.add_argument("--large", type=int, default=5, help="backups of several parts")
    parser.add_argument("--large-mb", type=int, default=60, help="size of their database")
    parser.add_argument("--workers", type=int, default=3, help="scheduled worker processes")
    parser.add_argument("--threads", type=int, default=2, help="threads per worker process")
    parser.add_argument(
        "--link",
        choices=["none", *sorted(link.PROFILES)],
        default="none",
        help="a link between the workers and the stand-in (standin.link)",
    )
    parser.add_argument(
        "--copies",
        type=int,
        choices=(1, 2, 3),
        default=1,
        help="BACKUP_COPIES, one repository each",
    )
    parser.add_argument("--json-out", type=Path, help="also write the JSON document here")
    args = parser.parse_args(argv)
    further = range(1, args.copies)
    tokens = list(TOKENS) + [t for n in further for t in COPY_TOKENS[n]]
    chats = list(CHATS) + [c for n in further for c in COPY_CHATS[n]]
    params = datagen.source_params()
    small = [
        datagen.ensure(params, 10, label=f"small{n}", seed=100 + n, scale=0.1, log=False).name
        for n in range(10)
    ]
    large = datagen.ensure(params, args.large_mb, label=f"fleet{args.large_mb}", seed=7).name
    environment = report.environment()
    overrides = {"BACKUP_PART_SIZE": str(LARGE_PART_SIZE)}
    with (
        tempfile.TemporaryDirectory(prefix="bwbench-fleet-") as tmp,
        standin.process(
            Path(tmp) / "standin",
            ",".join(tokens),
            ",".join(chats),
            limits="telegram",
            link=None if args.link == "none" else args.link,
        ) as server,
        on_shared_servers(
            server, Path(tmp), token=",".join(TOKENS), chat=",".join(CHATS), prefix="bwbench_"
        ) as bench,
    ):
        if args.copies > 1:
            overrides |= _repositories(Path(tmp), further)
        # The Procfile's two worker processes: `scheduled` (here several, each a host of its
        # own: -n) and `worker` for asked-for work; --concurrency: the threads measured.
        threads = f"--concurrency={args.threads}"
        running = [
            bench.start_scheduled(threads, "-n", f"scheduled{n}@%h", **overrides)
            for n in range(args.workers)
        ]
        asked_worker = bench.start_worker(threads, **overrides)
        report.line(f"{args.small} small + {args.large} multi-part backups, scheduled")
        started = time.time()
        jobs = [_scheduled(bench, "bench-fleet-large", large) for _ in range(args.large)]
        jobs += [_scheduled(bench, "bench-fleet", small[n % len(small)]) for n in range(args.small)]
        half = len(jobs) // 2
        for job_id in jobs[:half]:
            jobrun.wait(bench, job_id, timeout=3600)
        asked = bench.enqueue("bench-fleet-asked", small[0])
        asked_row = jobrun.wait(bench, asked, timeout=600)
        for job_id in jobs[half:]:
            jobrun.wait(bench, job_id, timeout=3600)
        seconds = time.time() - started
        sends = requests.get(f"{server.url}/_standin/requests", timeout=30).json()["result"]
        logs = "".join(worker.log() for worker in [*running, asked_worker])
    documents = [entry for entry in sends if entry["method"] == "sendDocument"]
    accepted = sorted(
        float(entry["time"]) + float(entry["duration"])
        for entry in documents
        if entry["status"] == 200
    )
    refused = sum(1 for entry in documents if entry["status"] == 429)
    span = accepted[-1] - accepted[0] if len(accepted) > 1 else 0.0
    per_minute = (len(accepted) - 1) / span * 60 if span else 0.0
    ceiling = len(CHATS) * GROUP_PER_MINUTE * args.copies  # each copy's repository adds its own
    waits = [float(value) for value in _WAITED.findall(logs)]
    asked_wait = (asked_row["started_at"] - asked_row["created_at"]).total_seconds()  # type: ignore[operator]
    share_429 = report.ratio(refused, len(documents))
    share_ceiling = report.ratio(per_minute, ceiling)
    rows = [
        ("messages sent", len(accepted), ""),
        ("messages per minute", round(per_minute, 1), f"ceiling {ceiling}"),
        (
            "of the ceiling",
            f"{share_ceiling:.1%}",
            report.verdict(share_ceiling, TARGET_THROUGHPUT, at_most=False),
        ),
        ("sendDocument requests", len(documents), ""),
        ("429 answers", refused, f"{share_429:.2%} " + report.verdict(share_429, TARGET_429)),
        ("pacer wait p50 (s)", round(statistics.median(waits), 2) if waits else 0.0, ""),
        ("pacer wait p95 (s)", round(_percentile(waits, 0.95), 2), ""),
        (
            "asked-for backup: wait for its dump (s)",
            round(asked_wait, 2),
            report.verdict(asked_wait, TARGET_ASKED_WAIT),
        ),
        ("wall time (s)", round(seconds, 1), ""),
    ]
    per_copy = _per_copy(accepted_by_bot(documents), args.copies)
    for number, (rate, share) in enumerate(per_copy):
        verdict = report.verdict(share, TARGET_THROUGHPUT, at_most=False)
        rows.append(
            (
                f"copy {number}: messages per minute",
                round(rate, 1),
                f"ceiling {ceiling // args.copies}",
            )
        )
        rows.append((f"copy {number}: of its ceiling", f"{share:.1%}", verdict))
    report.table("Fleet-scale Telegram", ("figure", "value", "target"), rows)
    document: dict[str, object] = {
        "environment": environment,
        "command": "python -m benchmarks.fleet " + " ".join(argv or sys.argv[1:]),
        "setup": {
            "small_backups": args.small,
            "large_backups": args.large,
            "large_database_mb": args.large_mb,
            "scheduled_workers": args.workers,
            "threads": args.threads,
            "bots": len(TOKENS),
            "chats": len(CHATS),
            "limits": "telegram",
            "link": args.link,
            "copies": args.copies,
        },
        "per_copy": [
            {"messages_per_minute": round(rate, 2), "share_of_ceiling": round(share, 4)}
            for rate, share in per_copy
        ],
        "messages": len(accepted),
        "messages_per_minute": round(per_minute, 2),
        "ceiling_per_minute": ceiling,
        "share_of_ceiling": round(share_ceiling, 4),
        "send_document_requests": len(documents),
        "answers_429": refused,
        # Every answer by status: requests beyond the messages are drops (a slot moved too
        # far), retries after 5xx or network errors, not only 429s.
        "send_document_statuses": {
            str(status): count
            for status, count in sorted(
                collections.Counter(str(entry["status"]) for entry in documents).items()
            )
        },
        "share_429": round(share_429, 4),
        "pacer_wait_p50_seconds": round(statistics.median(waits), 3) if waits else 0.0,
        "pacer_wait_p95_seconds": round(_percentile(waits, 0.95), 3),
        "asked_backup_dump_wait_seconds": round(asked_wait, 3),
        "wall_seconds": round(seconds, 1),
    }
    report.emit(document, args.json_out)
    return document


def main(argv: list[str] | None = None) -> int:
    """The command line."""
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
