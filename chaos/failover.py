"""A Redis Sentinel failover in the middle of a stream of backups: every one completes, once.

`python -m chaos.failover [--backups 60]` runs it on the shared PostgreSQL (a scratch control
database and source database) with its own Redis primary, replica and three sentinels on
loopback (tests.support.sentinel), and prints the figures; tests/acceptance/faults/
test_sentinel_failover.py runs `run()` with fewer backups. The worker, the scheduled worker and
beat are the Procfile's, pointed at the sentinels; the "gateway" publishes backups.create as the
api-gateway does; a quarter of the way in, the primary is SIGKILLed and the sentinels promote the
replica. A backup of the CLI is queued after the failover.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from celery import Celery
from kombu.exceptions import OperationalError
from sqlalchemy import text

from standin.server import BotApiStandin
from tests.support import sentinel, sources
from tests.support.stack import Stack, on_shared_servers
from worker.contract import publish, tasks
from worker.jobs import intake

CONNECTED = "Connected to "
SEND_EVERY = 0.25  # seconds between two backups of the gateway
CLI = str(Path(sys.executable).with_name("backup-worker"))
TOKEN = "424242:failover-token-not-a-real-bot-000000"  # noqa: S105 - stand-in only
CHAT = "-1004242424243"


@dataclass
class Figures:
    """What a run measured."""

    backups: int = 0
    completed: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    promoted_after: float = 0.0  # seconds from the kill to the replica taking writes
    worker_back_after: float = 0.0  # seconds from the kill to the worker's reconnection
    last_done_after: float = 0.0  # seconds from the kill to the last backup completed
    send_documents: int = 0  # sendDocument requests the stand-in answered
    sent_after_promotion: int = 0  # messages the stand-in counted once the replica took writes
    parts: int = 0  # parts the backups recorded
    per_backup: dict[str, int] = field(default_factory=dict)  # sendDocument count -> backups
    resent: list[str] = field(default_factory=list)  # jobs with more sendDocument than parts
    backups_per_job: dict[str, int] = field(default_factory=dict)  # rows -> jobs
    processes_alive: bool = True
    unrecoverable: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def environment(group: sentinel.SentinelGroup) -> dict[str, str]:
    """Every process on the sentinels; the pacer on, its group budget wide enough that a minute
    of backups is not paced for minutes (its own tests: tests/acceptance/fleet)."""
    return {
        "CELERY_BROKER_URL": group.url(0),
        "CELERY_RESULT_BACKEND": group.url(1),
        "REDIS_SENTINEL_MASTER": group.master,
        "TELEGRAM_GROUP_PER_MINUTE": "600",
        "TELEGRAM_CHAT_PER_SECOND": "20",
    }


def run(
    stack: Stack[BotApiStandin],
    group: sentinel.SentinelGroup,
    *,
    backups: int,
    source_db: str,
    timeout: float = 240,
) -> Figures:
    """Send `backups` backups, kill the primary a quarter of the way in; the figures."""
    env = environment(group)
    started = [stack.start_worker(**env), stack.start_scheduled(**env), stack.start_beat(**env)]
    worker = started[0]
    gateway = Celery("gateway-failover", broker=group.url(0))
    gateway.conf.broker_connection_retry_on_startup = True
    gateway.conf.broker_transport_options = {"master_name": group.master}
    publisher = publish.Publisher(gateway.send_task)
    job_ids: list[str] = []
    figures = Figures(backups=backups)
    killed_at: list[float] = []
    promoted: list[float] = []

    back: list[float] = []

    def watch_promotion() -> None:
        promoted.append(group.wait_promoted())

    def watch_worker() -> None:
        # Celery's consumer logs "Connected to" on every connection: at start, then after a loss.
        deadline = time.monotonic() + timeout
        while worker.log().count(CONNECTED) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        back.append(time.monotonic())

    try:
        for index in range(backups - 1):
            if index == backups // 4:
                killed_at.append(group.kill_primary())
                threading.Thread(target=watch_promotion, daemon=True).start()
                threading.Thread(target=watch_worker, daemon=True).start()
            message = tasks.CreateBackup(f"proj-fo-{index}", source_db)
            while True:
                try:
                    task_id = publisher.send(message)
                    break
                except OperationalError:  # no primary yet: the gateway tries again
                    time.sleep(0.2)
            job_ids.append(str(intake.job_id_for_task(task_id)))
            time.sleep(SEND_EVERY)
        # The CLI, through the sentinels too, after the failover.
        done = subprocess.run(
            [CLI, "backup", "--project", "proj-fo-cli", "--database", source_db, "--json"],
            env=worker.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"the CLI failed: {done.stderr}{done.stdout}")
        job_ids.append(str(json.loads(done.stdout)["job_id"]))
        # One deadline for them all, so a job that never ends fails the run with its row (and
        # the logs) before a test's own timeout cuts it short with nothing to read.
        deadline = time.monotonic() + timeout
        rows = [
            stack.wait_job(job_id, timeout=max(deadline - time.monotonic(), 0.1))
            for job_id in job_ids
        ]
    finally:
        gateway.close()
    kill = killed_at[0]
    figures.promoted_after = round(promoted[0] - kill, 2) if promoted else -1.0
    figures.completed = sum(1 for row in rows if row["status"] == "completed")
    figures.failed = {str(r["id"]): str(r["error"]) for r in rows if r["status"] != "completed"}
    finished = [
        stamp
        for stamp in (row.get("finished_at") for row in rows)
        if isinstance(stamp, dt.datetime)
    ]
    figures.last_done_after = round(_seconds_after(stack, kill, finished), 2)
    figures.worker_back_after = round(back[0] - kill, 2) if back else -1.0
    _count_sends(stack, job_ids, figures)
    if promoted:  # the stand-in's clock is the wall's
        promoted_wall = time.time() - (time.monotonic() - promoted[0])
        figures.sent_after_promotion = sum(
            1 for send in stack.standin.sends() if float(str(send["time"])) > promoted_wall
        )
    figures.processes_alive = all(process.alive() for process in started)
    figures.unrecoverable = sum(p.log().count("Unrecoverable error") for p in started)
    return figures


def _count_sends(stack: Stack[BotApiStandin], job_ids: list[str], figures: Figures) -> None:
    with stack.database.engine.connect() as conn:
        rows = conn.execute(text("SELECT job_id, part_count FROM control_plane.backups")).all()
    per_job = collections.Counter(str(row.job_id) for row in rows)
    parts = {str(row.job_id): int(row.part_count) for row in rows}
    figures.backups_per_job = {
        str(count): n for count, n in collections.Counter(per_job[j] for j in job_ids).items()
    }
    figures.parts = sum(int(row.part_count) for row in rows)
    figures.send_documents = len(stack.standin.requests("sendDocument"))
    names = [str(m["file_name"]) for m in stack.standin.messages() if m.get("file_name")]
    # A part's file name ends in the job id's first 8 hex digits, then .pgdump…, then .001…
    sent = {
        job: sum(1 for name in names if f"_{uuid.UUID(job).hex[:8]}.pgdump" in name)
        for job in job_ids
    }
    counts = collections.Counter(sent.values())
    figures.per_backup = {str(count): n for count, n in sorted(counts.items())}
    figures.resent = [job for job in job_ids if sent[job] != parts.get(job)]


def _seconds_after(stack: Stack[BotApiStandin], kill: float, finished: list[dt.datetime]) -> float:
    # finished_at is the database's wall time, the kill a monotonic one: both against now.
    with stack.database.engine.connect() as conn:
        now: dt.datetime = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
    last = max(finished, default=now)
    return (time.monotonic() - kill) - (now - last).total_seconds()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.failover", description=__doc__)
    parser.add_argument("--backups", type=int, default=60)
    args = parser.parse_args(argv)
    source_db = f"bw_fo_src_{uuid.uuid4().hex[:8]}"
    sources.make_source_database(source_db)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="bwfailover-") as tmp,
            BotApiStandin(
                tokens=[TOKEN], chats=[int(CHAT)], data_dir=Path(tmp) / "standin"
            ) as server,
            on_shared_servers(server, Path(tmp), token=TOKEN, chat=CHAT) as stack,
            sentinel.group(Path(tmp) / "redis") as group,
        ):
            figures = run(stack, group, backups=args.backups, source_db=source_db, timeout=600)
    finally:
        sources.drop_database(source_db)
    print(figures.to_json())
    ok = figures.completed == figures.backups and not figures.resent
    return 0 if ok and figures.processes_alive else 1


if __name__ == "__main__":
    sys.exit(main())
