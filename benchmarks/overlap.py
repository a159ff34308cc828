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

from benchmarks import report, stack
from worker import artifact, dump, source, telegram

PART_SIZE = 20_000_000  # bytes, the worker's default
# Upload speeds (MB/s) for which the saving is also modelled: the stand-in runs on loopback and
# on the same cores as the dump, while the real Bot API is at the end of a network link.
UPLINKS_MBPS = (10, 50)


@dataclass(frozen=True)
class Comparison:
    """Wall times of the two ways (alternating runs), and of the dump alone."""

    sequential: list[float]
    dump_only: list[float]  # the dump part of each sequential run
    overlapped: list[float]
    parts: int
    size_bytes: int

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict: medians, every run, and the uplink model."""
        sequential, overlapped = report.median(self.sequential), report.median(self.overlapped)
        saved = sequential - overlapped
        return {
            "sequential_seconds": round(sequential, 3),
            "sequential_dump_seconds": round(report.median(self.dump_only), 3),
            "overlapped_seconds": round(overlapped, 3),
            "saved_seconds": round(saved, 3),
            "saved_share": round(saved / sequential, 3) if sequential else 0.0,
            "parts": self.parts,
            "runs": {"sequential": self.sequential, "overlapped": self.overlapped},
            "model": {
                f"{mbps}_mb_per_s": dict(
                    zip(
                        ("sequential_seconds", "overlapped_seconds"),
                        uplink_model(self, mbps),
                        strict=True,
                    )
                )
                for mbps in UPLINKS_MBPS
            },
        }


def uplink_model(result: Comparison, mbps: float) -> tuple[float, float]:
    """(sequential, overlapped) seconds if sending ran at `mbps` MB/s instead of the
    stand-in's loopback speed: the measured dump, plus the modelled sends."""
    dump = report.median(result.dump_only)
    send = result.size_bytes / (mbps * 1e6)
    parts = max(result.parts, 1)
    overlapped = max(dump + send / parts, dump / parts + send)
    return round(dump + send, 3), round(overlapped, 3)


def compare(
    bench: stack.Stack,
    params: source.SourceParams,
    database: str,
    level: int,
    threads: int,
    repeat: int = 1,
) -> Comparison:
    """Run the dump and the sends both ways, alternating, `repeat` times each."""
    spool = bench.tmp / "prototype-spool"
    sequential: list[float] = []
    dump_only: list[float] = []
    overlapped: list[float] = []
    made: artifact.Artifact | None = None
    with telegram.TelegramClient(stack.TOKEN, bench.standin.url) as client:
        try:
            for _ in range(repeat):
                started = time.perf_counter()
                made = _dump(params, database, spool, "sequential", level, threads, None)
                dump_only.append(time.perf_counter() - started)
                for part in made.parts:
                    _send(client, part)
                sequential.append(time.perf_counter() - started)
                artifact.remove_parts(made)
                started = time.perf_counter()
                made = _overlapped(client, params, database, spool, level, threads)
                overlapped.append(time.perf_counter() - started)
                artifact.remove_parts(made)
        finally:
            shutil.rmtree(spool, ignore_errors=True)
    assert made is not None
    return Comparison(sequential, dump_only, overlapped, len(made.parts), made.size_bytes)


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
