"""Peak memory of a worker restoring a backup several times BACKUP_PART_SIZE: run on demand.

    .venv/bin/python benchmarks/restore_memory.py [--megabytes 100] [--part-size 20000000]

Needs what the acceptance tests need (PostgreSQL on 127.0.0.1:5432 with trust auth, Redis on
127.0.0.1:6379, pg_dump/pg_restore). It creates a source database holding `--megabytes` of
incompressible data, starts a real `celery worker` (the shipped pool, celeryconfig.worker_pool,
with one slot) against the Bot API stand-in, backs the database up (encrypted), then restores it
into a new database while sampling the worker's whole process tree (the worker, pg_restore, and
with --pool prefork its pool child) every 50 ms from /proc. Prints a table and one JSON line.
Everything it creates is dropped at the end.

RSS summed over the tree counts twice the library pages a prefork child shares with its parent
(about 70 MB of imports); PSS splits shared pages between the processes that map them, so the
PSS sum is the tree's real footprint. `--pool prefork` or `--pool solo` compare other pools.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import pyrage
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from db.session import Database
from standin.server import BotApiStandin
from tests.support.sources import ADMIN_DSN, drop_database, make_source_database
from tests.support.stack import job_row, on_shared_servers
from worker.contract import tasks

SAMPLE_INTERVAL = 0.05  # seconds
LIMIT_MB = 200
TOKEN = "123456:RESTORE-MEMORY-token-ABCdefGHIjklMNOpq"  # noqa: S105 - stand-in only
CHAT = "-1009876543210"
SHIPPED = "shipped"  # --pool: whatever celeryconfig.worker_pool says
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass
class Peak:
    """The largest whole-tree figures seen, and the processes they were made of."""

    rss_kb: int = 0
    pss_kb: int = 0
    parts: dict[str, int] = field(default_factory=dict)
    samples: int = 0


def children_of(root: int) -> list[int]:
    """`root` and every descendant, from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(parents.get(pid, []))
    return tree


def memory_kb(pid: int) -> tuple[str, int, int]:
    """(name, RSS kB, PSS kB) of one process; zeros when it is gone."""
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
        rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB
        pss = 0
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
        return name, rss, pss
    except (OSError, ValueError, IndexError):
        return "?", 0, 0


def sample(root: int, peak: Peak, stop: threading.Event) -> None:
    while not stop.is_set():
        figures = [(pid, *memory_kb(pid)) for pid in children_of(root)]
        rss = sum(f[2] for f in figures)
        peak.samples += 1
        if rss > peak.rss_kb:
            peak.rss_kb = rss
            peak.parts = {f"{name} ({pid})": kb for pid, name, kb, _ in figures}
        peak.pss_kb = max(peak.pss_kb, sum(f[3] for f in figures))
        stop.wait(SAMPLE_INTERVAL)


def fill(database: str, megabytes: int) -> None:
    """`megabytes` of random bytes in a bytea table: zstd cannot shrink them."""
    make_source_database(database, rows=1000)
    conn = psycopg2.connect(ADMIN_DSN.replace("dbname=postgres", f"dbname={database}"))
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE blobs (id serial PRIMARY KEY, body bytea)")
        cur.execute(
            """
            INSERT INTO blobs (body)
            SELECT (SELECT decode(string_agg(md5(random()::text || r::text || g), ''), 'hex')
                    FROM generate_series(1, 65536) AS g)
            FROM generate_series(1, %s) AS r
            """,
            (megabytes,),
        )
    conn.close()


def wait(database: Database, job_id: str, timeout: float) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = job_row(database, job_id)
        if row is not None and row["status"] in ("completed", "failed", "cancelled"):
            return row
        time.sleep(0.1)
    raise SystemExit(f"job {job_id} did not finish in {timeout} s")


def pool_option(pool: str) -> list[str]:
    """The worker's -P option: none for the shipped pool."""
    if pool == SHIPPED:
        return []
    # Celery reads `-P prefork` as its own default and runs celeryconfig.worker_pool instead;
    # "processes" is the same pool under a name it takes as a choice.
    return ["-P", "processes" if pool == "prefork" else pool]


def run(megabytes: int, part_size: int, pool: str, work: Path) -> dict[str, object]:
    suffix = uuid.uuid4().hex[:8]
    source, target = f"bw_bench_{suffix}", f"bw_bench_r_{suffix}"
    key = pyrage.x25519.Identity.generate()
    (work / "key.txt").write_text(f"{key}\n")
    try:
        print(f"filling {source} with {megabytes} MB ...", file=sys.stderr)
        fill(source, megabytes)
        with (
            BotApiStandin(tokens=[TOKEN], chats=[int(CHAT)], data_dir=work / "standin") as api,
            on_shared_servers(api, work, token=TOKEN, chat=CHAT, prefix="bw_bench_c_") as bench,
        ):
            # --concurrency=1: one restore at a time, so the tree's peak is that restore's.
            worker = bench.start_worker(
                "--concurrency=1",
                *pool_option(pool),
                BACKUP_PART_SIZE=str(part_size),
                BACKUP_AGE_RECIPIENTS=str(key.to_public()),
                BACKUP_AGE_IDENTITY_FILE=str(work / "key.txt"),
                RESTORE_TARGET_NAMES=target,  # a new database of the benchmark's own name
            )
            print("backing up ...", file=sys.stderr)
            backup_job = bench.send(project_id="bench", database=source)
            row = wait(bench.database, backup_job, 1800)
            if row["status"] != "completed":
                raise SystemExit(f"backup failed: {row['error']}")
            result = row["result"]
            assert isinstance(result, dict)
            backup = result["backup"]
            time.sleep(1)
            idle = Peak()
            stop = threading.Event()
            figures = [memory_kb(pid) for pid in children_of(worker.proc.pid)]
            idle.rss_kb = sum(f[1] for f in figures)
            idle.pss_kb = sum(f[2] for f in figures)
            print("restoring ...", file=sys.stderr)
            peak = Peak()
            sampler = threading.Thread(
                target=sample, args=(worker.proc.pid, peak, stop), daemon=True
            )
            sampler.start()
            started = time.monotonic()
            restore_job = bench.publish(
                tasks.RestoreBackup("bench", uuid.UUID(str(backup["id"])), target)
            )
            row = wait(bench.database, restore_job, 1800)
            seconds = time.monotonic() - started
            stop.set()
            sampler.join()
            if row["status"] != "completed":
                raise SystemExit(f"restore failed: {row['error']}")
    finally:
        for name in (source, target):
            drop_database(name)
    return {
        "pool": pool,
        "artifact_bytes": backup["size_bytes"],
        "part_size": part_size,
        "part_count": backup["part_count"],
        "restore_seconds": round(seconds, 1),
        "idle_rss_mb": round(idle.rss_kb / 1024, 1),
        "idle_pss_mb": round(idle.pss_kb / 1024, 1),
        "peak_rss_mb": round(peak.rss_kb / 1024, 1),
        "peak_pss_mb": round(peak.pss_kb / 1024, 1),
        "restore_adds_rss_mb": round((peak.rss_kb - idle.rss_kb) / 1024, 1),
        "peak_processes_mb": {name: round(kb / 1024, 1) for name, kb in peak.parts.items()},
        "samples": peak.samples,
        "limit_mb": LIMIT_MB,
        "rss_under_limit": peak.rss_kb / 1024 < LIMIT_MB,
        "pss_under_limit": peak.pss_kb / 1024 < LIMIT_MB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=int, default=100, help="incompressible data to dump")
    parser.add_argument("--part-size", type=int, default=20_000_000, help="BACKUP_PART_SIZE")
    parser.add_argument("--pool", choices=(SHIPPED, "prefork", "solo"), default=SHIPPED)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bw-bench-") as tmp:
        figures = run(args.megabytes, args.part_size, args.pool, Path(tmp))
    table = Table("figure", "value", title="restore: worker process tree memory")
    for key, value in figures.items():
        if key != "peak_processes_mb":
            table.add_row(key, str(value))
    for name, mb in figures["peak_processes_mb"].items():  # type: ignore[attr-defined]
        table.add_row(f"  at peak: {name}", f"{mb} MB")
    Console().print(table)
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
