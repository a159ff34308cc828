"""What a benchmark runs against: a tests.support stack on the shared servers, with the Bot API
stand-in as a child process (its work stays off the benchmark's interpreter), and the worker
the Procfile starts."""

from __future__ import annotations

import contextlib
import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import requests
from sqlalchemy import create_engine, pool, text

from db import session as db_session
from tests.support import standin, workers
from tests.support.stack import Stack, on_shared_servers

TOKEN = "424242:benchmark-token-not-a-real-bot-000000"  # noqa: S105 - stand-in only
CHAT = "-1004242424242"
NAIVE_CHAT = "-1004242424243"  # the naive script's own group: its sends never meet the pacer's
_TASK_DONE = re.compile(r"Task (backups\.\w+)\[([0-9a-f-]+)\] succeeded in ([0-9.e-]+)s")

Bench = Stack[standin.StandinProcess]


@contextlib.contextmanager
def stack(*, limits: str | None = None, link: str | None = None) -> Iterator[Bench]:
    """Stand-in, control database (job writes logged) and Redis database, for one benchmark;
    `limits` and `link` as tests.support.standin.process takes them."""
    with (
        tempfile.TemporaryDirectory(prefix="bwbench-") as tmp,
        standin.process(
            Path(tmp) / "standin", TOKEN, f"{CHAT},{NAIVE_CHAT}", limits=limits, link=link
        ) as server,
        on_shared_servers(
            server,
            Path(tmp),
            token=TOKEN,
            chat=CHAT,
            prefix="bwbench_control_",
            prepare=_log_writes,
        ) as bench,
    ):
        yield bench


@contextlib.contextmanager
def worker(bench: Bench, *options: str, **env: str) -> Iterator[workers.Process]:
    """The Procfile's worker with `options` (the benchmark's pool size, -P), ready; stopped
    (warm shutdown) afterwards."""
    running = bench.start_worker(*options, **env)
    try:
        yield running
    finally:
        running.stop()


@contextlib.contextmanager
def scheduled(bench: Bench, *, enabled: bool = True) -> Iterator[workers.Process | None]:
    """The Procfile's `scheduled` worker beside the first, as shipped (idle here: it serves
    the dispatcher's queue); nothing when not `enabled`."""
    if not enabled:
        yield None
        return
    running = bench.start_scheduled()
    try:
        yield running
    finally:
        running.stop()


class GroupBudget:
    """A group's 20 messages a minute between rounds: each round's backup starts with room for
    all its parts, as a backup alone would, instead of waiting out the round before's. Counts
    every message the stand-in counted in the group (catalog messages too)."""

    def __init__(self, standin_url: str, chat: str, per_minute: int = 20) -> None:
        self._url = f"{standin_url}/_standin/sends"
        self._chat = int(chat)
        self._per_minute = per_minute

    def settle(self, expected: int) -> float:
        """Sleep until `expected` more messages fit in the group's minute; the seconds slept."""
        window = 61.0  # the minute, and the pacer's margin, and a little
        slept = 0.0
        while True:
            sends = requests.get(self._url, timeout=10).json()["result"]
            now = time.time()
            recent = sorted(
                float(s["time"])
                for s in sends
                if s["chat_id"] == self._chat and float(s["time"]) > now - window
            )
            over = len(recent) + expected - self._per_minute
            if over <= 0:
                return slept
            wait = recent[over - 1] + window - now
            time.sleep(wait)
            slept += wait


def refused(standin_url: str, chat: str) -> int:
    """sendDocument requests into `chat` the stand-in answered with 429 so far."""
    entries = requests.get(f"{standin_url}/_standin/requests", timeout=10).json()["result"]
    return sum(
        1
        for entry in entries
        if entry["method"] == "sendDocument"
        and entry["status"] == 429
        and str(entry["chat_id"]) == chat
    )


def task_seconds(log: str) -> dict[str, list[float]]:
    """Run time of each task that finished in `log`, by task name, from Celery's log lines."""
    found: dict[str, list[float]] = {}
    for name, _task_id, seconds in _TASK_DONE.findall(log):
        found.setdefault(name, []).append(float(seconds))
    return found


# Every INSERT or UPDATE of a jobs row is logged, so a benchmark can count the writes one job
# made (the hot path must not write per chunk). The table lives in the scratch database only.
_WRITE_LOG = """
CREATE TABLE public.bench_job_writes (job_id uuid NOT NULL, at timestamptz NOT NULL);
CREATE FUNCTION public.bench_log_job_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.bench_job_writes VALUES (NEW.id, clock_timestamp());
    RETURN NULL;
END $$;
CREATE TRIGGER bench_log_job_write AFTER INSERT OR UPDATE ON control_plane.jobs
    FOR EACH ROW EXECUTE FUNCTION public.bench_log_job_write();
"""


def _log_writes(url: str) -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(_WRITE_LOG)
    finally:
        engine.dispose()


def job_writes(
    database: db_session.Database, job_ids: list[uuid.UUID] | None = None
) -> dict[uuid.UUID, int]:
    """How many times each job's row was inserted or updated (every job when None)."""
    query = "SELECT job_id, count(*) FROM public.bench_job_writes"
    params: dict[str, object] = {}
    if job_ids is not None:
        query += " WHERE job_id = ANY(CAST(:ids AS uuid[]))"
        params["ids"] = [str(job_id) for job_id in job_ids]
    with database.engine.connect() as conn:
        rows = conn.execute(text(query + " GROUP BY job_id"), params).all()
    return {uuid.UUID(str(job_id)): int(count) for job_id, count in rows}
