"""Benchmark: concurrent dispatchers against many schedules, on real PostgreSQL and Redis.

    .venv/bin/python benchmarks/dispatch.py [--schedules 10000] [--due 1000] [--dispatchers 2]

Creates a scratch database (dropped afterwards), fills backup_schedules, then starts the
dispatchers as separate processes (like separate workers) at the same moment and times them
until all are done. The messages go to a queue of their own on the chosen Redis database, so
no running worker consumes them; the queue is deleted afterwards. Prints the figures and checks
that every due schedule got exactly one job and one message.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import sys
import time
import uuid
from multiprocessing.synchronize import Event

import redis
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
CHAT = "-1001234567890"


def _fill(url: str, total: int, due: int) -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO control_plane.backup_schedules"
                " (project_id, database, cron, period_seconds, next_run_at)"
                " SELECT 'proj-' || i, 'app', '0 3 * * *', 86400,"
                "  CASE WHEN i <= :due THEN now() - interval '10 seconds'"
                "       ELSE now() + interval '1 hour' END"
                " FROM generate_series(1, :total) AS i"
            ),
            {"due": due, "total": total},
        )
    engine.dispose()


def _dispatcher(url: str, broker: str, queue: str, ready: Event, go: Event, out: object) -> None:
    os.environ.update(
        DATABASE_URL=url,
        CELERY_BROKER_URL=broker,
        CELERY_RESULT_BACKEND=broker,
        TELEGRAM_BOT_TOKEN="123:benchmark-token-aaaaaaaaaaaaaaaaaaaaaa",  # noqa: S106 - no real bot
        TELEGRAM_CHAT_ID=CHAT,
    )
    from tasks import maintenance
    from worker.app import app
    from worker.jobs import runtime
    from worker.scheduling import dispatch as dispatcher

    rt = runtime.current()
    send = maintenance.publisher(app, queue)
    with rt.database.transaction() as session:  # connect before the clock starts
        session.execute(text("SELECT 1"))
    send.send_all([])
    ready.set()
    go.wait()
    began, cpu = time.monotonic(), time.process_time()
    result = dispatcher.dispatch(rt, send)
    elapsed = (time.monotonic() - began, time.process_time() - cpu)
    out.put((result.enqueued, *elapsed))  # type: ignore[attr-defined]
    rt.close()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit status 1 if any count is wrong."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument("--due", type=int, default=1_000)
    parser.add_argument("--dispatchers", type=int, default=2)
    parser.add_argument("--admin-url", default=os.environ.get("TEST_ADMIN_DATABASE_URL", ADMIN_URL))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args(argv)

    from db import migrate

    admin_url = make_url(args.admin_url)
    name = f"bw_bench_{secrets.token_hex(4)}"
    admin = create_engine(admin_url, poolclass=pool.NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    queue = f"bw-bench-{uuid.uuid4().hex[:8]}"
    store = redis.Redis.from_url(args.redis_url)
    ok = False
    try:
        migrate.upgrade(url)
        _fill(url, args.schedules, args.due)
        ctx = multiprocessing.get_context("spawn")
        go, out = ctx.Event(), ctx.Queue()
        readies = [ctx.Event() for _ in range(args.dispatchers)]
        procs = [
            ctx.Process(target=_dispatcher, args=(url, args.redis_url, queue, ready, go, out))
            for ready in readies
        ]
        for proc in procs:
            proc.start()
        for ready in readies:
            ready.wait(60)
        began = time.monotonic()
        go.set()
        results = [out.get(timeout=120) for _ in procs]
        wall = time.monotonic() - began
        for proc in procs:
            proc.join()
        engine = create_engine(url, poolclass=pool.NullPool)
        with engine.connect() as conn:
            jobs = conn.execute(text("SELECT count(*) FROM control_plane.jobs")).scalar_one()
            runs = conn.execute(
                text("SELECT count(*) FROM control_plane.schedule_runs")
            ).scalar_one()
        engine.dispose()
        queued = int(store.llen(queue))
        enqueued = sum(count for count, _, _ in results)
        ok = jobs == runs == queued == enqueued == args.due
        print(
            f"{args.dispatchers} dispatchers, {args.due} due of {args.schedules} schedules:"
            f" {wall:.2f} s wall; per dispatcher "
            + ", ".join(
                f"{n} in {wall_s:.2f} s ({cpu_s:.2f} s CPU)" for n, wall_s, cpu_s in results
            )
            + f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
        print(f"jobs {jobs}, runs {runs}, messages {queued}: {'OK' if ok else 'WRONG'}")
    finally:
        store.delete(queue)
        store.close()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
