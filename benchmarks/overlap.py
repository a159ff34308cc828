"""Prototype, in-process: does sending finished parts while pg_dump still runs pay off?

The same dump and the same sends, twice, with the worker's own functions (worker.dump and the
Telegram client) but without Celery or the jobs table:
- sequential: dump every part, then send them one by one (what the chain does today);
- overlapped: a sender thread sends each part as soon as the dump completes it
  (dump_database's `on_part`), the dump going on meanwhile.
"""

from __future__ import annotations

import queue
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks import stack
from worker import artifact, dump, source, telegram

PART_SIZE = 20_000_000  # bytes, the worker's default


@dataclass(frozen=True)
class Comparison:
    """Wall times of the two ways, and of the dump alone in the sequential one."""

    sequential_seconds: float
    sequential_dump_seconds: float
    overlapped_seconds: float
    parts: int

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict."""
        saved = self.sequential_seconds - self.overlapped_seconds
        return {
            "sequential_seconds": round(self.sequential_seconds, 3),
            "sequential_dump_seconds": round(self.sequential_dump_seconds, 3),
            "overlapped_seconds": round(self.overlapped_seconds, 3),
            "saved_seconds": round(saved, 3),
            "saved_share": round(saved / self.sequential_seconds, 3)
            if self.sequential_seconds
            else 0.0,
            "parts": self.parts,
        }


def compare(
    bench: stack.Stack, params: source.SourceParams, database: str, level: int, threads: int
) -> Comparison:
    """Run the dump and the sends both ways; parts are removed afterwards."""
    spool = bench.tmp / "prototype-spool"
    with telegram.TelegramClient(stack.TOKEN, bench.standin.url) as client:
        try:
            started = time.perf_counter()
            made = _dump(params, database, spool, "sequential", level, threads, None)
            dump_only = time.perf_counter() - started
            for part in made.parts:
                _send(client, part)
            sequential = time.perf_counter() - started
            artifact.remove_parts(made)
            started = time.perf_counter()
            made = _overlapped(client, params, database, spool, level, threads)
            overlapped = time.perf_counter() - started
            artifact.remove_parts(made)
        finally:
            shutil.rmtree(spool, ignore_errors=True)
    return Comparison(sequential, dump_only, overlapped, len(made.parts))


def _overlapped(
    client: telegram.TelegramClient,
    params: source.SourceParams,
    database: str,
    spool: Path,
    level: int,
    threads: int,
) -> artifact.Artifact:
    finished: queue.Queue[artifact.PartFile | None] = queue.Queue()
    failures: list[BaseException] = []

    def sender() -> None:
        while (part := finished.get()) is not None:
            try:
                _send(client, part)
            except Exception as exc:  # noqa: BLE001 - handed to the dumping thread
                failures.append(exc)
                return

    thread = threading.Thread(target=sender, name="prototype-sender")
    thread.start()
    try:
        made = _dump(params, database, spool, "overlapped", level, threads, finished.put)
    finally:
        finished.put(None)
        thread.join()
    if failures:
        raise failures[0]
    return made


def _dump(
    params: source.SourceParams,
    database: str,
    spool: Path,
    name: str,
    level: int,
    threads: int,
    on_part: Callable[[artifact.PartFile], None] | None,
) -> artifact.Artifact:
    return dump.dump_database(
        params,
        database,
        spool,
        f"{database}-{name}.pgdump.zst",
        part_size=PART_SIZE,
        zstd_level=level,
        zstd_threads=threads,
        on_part=on_part,
    )


def _send(client: telegram.TelegramClient, part: artifact.PartFile) -> None:
    client.send_document(stack.CHAT, part.path, filename=part.path.name)
