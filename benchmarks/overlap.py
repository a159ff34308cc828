"""Sending parts while pg_dump still runs, the worker's way: measured in-process, and simulated.

The same dump and the same sends, twice, with the worker's own code (worker.backup.dump,
worker.backup.upload, worker.backup.overlap) but without Celery or the jobs table:
- sequential: dump every part, then send them all with `upload.send_parts`;
- overlapped: what dump_step and upload_step do. A `worker.backup.overlap.PartSender` is
  offered each part by dump_database's `on_part` and sends a part once the writer has begun
  the next one, so the last part never goes during the dump; on the dump's end the part in
  flight is finished and queued ones are dropped. `upload.send_parts(skip=...)` then sends the
  rest, in order.

The stand-in runs on loopback and on the same cores as the dump, while the real Bot API is at the
end of a network link: `simulate` plays the same strategy at a chosen uplink speed.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks import report, rig
from worker import settings
from worker.artifact import manifest, stream
from worker.backup import dump, overlap, turns, upload
from worker.postgres import source
from worker.telegram import client as telegram
from worker.telegram import sender

UPLINKS_MBPS = (10, 50)  # upload speeds (MB/s) for the simulation
PROJECT = "benchmark"  # the captions' project id


@dataclass(frozen=True)
class Simulated:
    """Wall seconds of the dump and its sends, both ways, and how many parts went early."""

    sequential: float
    overlapped: float
    early: int

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {
            "sequential_seconds": round(self.sequential, 3),
            "overlapped_seconds": round(self.overlapped, 3),
            "parts_sent_early": self.early,
        }


def simulate(dump_seconds: float, parts: int, send_each: float) -> Simulated:
    """The PartSender strategy on `parts` equal parts, each taking `send_each` seconds to send.

    Part k (1-based, k < parts) is offered when the writer starts part k+1, at dump*k/parts; the
    sender takes them in order. At the dump's end the part in flight finishes, and every part
    not started yet (the last one always among them) is sent after it, one after another.
    """
    parts = max(parts, 1)
    free = 0.0  # when the sender is done with its current part
    early = 0
    for k in range(1, parts):
        start = max(dump_seconds * k / parts, free)
        if start >= dump_seconds:
            break
        free = start + send_each
        early += 1
    overlapped = max(dump_seconds, free) + (parts - early) * send_each
    return Simulated(dump_seconds + parts * send_each, overlapped, early)


@dataclass(frozen=True)
class Comparison:
    """Wall times of the two ways (alternating runs), and of their dumps alone."""

    sequential: list[float]
    dump_only: list[float]  # the dump part of each sequential run
    overlapped: list[float]
    overlapped_dump: list[float]  # the dump part of each overlapped run, early sends included
    early: list[int]  # parts the PartSender sent during each overlapped run's dump
    parts: int
    size_bytes: int

    def uplink_model(self, mbps: float) -> Simulated:
        """The strategy simulated on the sequential runs' dump, with sends at `mbps` MB/s."""
        parts = max(self.parts, 1)
        send_each = self.size_bytes / parts / (mbps * 1e6)
        return simulate(report.median(self.dump_only), parts, send_each)

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict: medians, every run, and the simulation at each uplink speed."""
        sequential, overlapped = report.median(self.sequential), report.median(self.overlapped)
        saved = sequential - overlapped
        return {
            "sequential_seconds": round(sequential, 3),
            "sequential_dump_seconds": round(report.median(self.dump_only), 3),
            "overlapped_seconds": round(overlapped, 3),
            "overlapped_dump_seconds": round(report.median(self.overlapped_dump), 3),
            "saved_seconds": round(saved, 3),
            "saved_share": round(saved / sequential, 3) if sequential else 0.0,
            "parts": self.parts,
            "parts_sent_early": self.early,
            "runs": {"sequential": self.sequential, "overlapped": self.overlapped},
            "model": {
                f"{mbps}_mb_per_s": self.uplink_model(mbps).to_json() for mbps in UPLINKS_MBPS
            },
        }


def compare(
    bench: rig.Bench,
    params: source.SourceParams,
    database: str,
    level: int,
    threads: int,
    repeat: int = 1,
    part_size: int | None = None,
) -> Comparison:
    """Run the dump and the sends both ways, alternating, `repeat` times each (at least once).

    `part_size` defaults to the worker's: smaller ones give a small database several parts.
    """
    spool = bench.tmp / "overlap-spool"
    where = upload.Destination(chat_id=rig.CHAT, thread_id=None, project_id=PROJECT, label=database)
    size = part_size or int(settings.Settings.model_fields["backup_part_size"].default)
    dumper = _Dumper(params, database, spool, level, threads, size)
    result = Comparison([], [], [], [], [], parts=0, size_bytes=0)
    with telegram.TelegramClient(rig.TOKEN, bench.standin.url) as bot:
        # Unpaced, as before the fleet pacer: this measures the overlap, not the budgets.
        client = sender.Sender(lambda _bot: bot, bots=["0"], pacer=None, max_attempts=8)
        try:
            for _ in range(max(repeat, 1)):
                started = time.perf_counter()
                made = dumper.run("sequential", None, None)
                result.dump_only.append(time.perf_counter() - started)
                upload.send_parts(client, made, where, on_sent=_ignore)
                result.sequential.append(time.perf_counter() - started)
                stream.remove_parts(made)
                started = time.perf_counter()
                made, early, dumped = _overlapped(client, where, dumper)
                result.overlapped.append(time.perf_counter() - started)
                result.overlapped_dump.append(dumped - started)
                result.early.append(early)
                stream.remove_parts(made)
        finally:
            shutil.rmtree(spool, ignore_errors=True)
    return dataclasses.replace(result, parts=len(made.parts), size_bytes=made.size_bytes)


def _overlapped(
    client: sender.Sender, where: upload.Destination, dumper: _Dumper
) -> tuple[stream.Artifact, int, float]:
    """dump_step then upload_step, sends only: (artifact, parts sent early, when the dump ended)."""
    sent: set[int] = set()

    def send_early(part: manifest.PartFile, left: turns.Left) -> None:
        # As the dump step: on a slow link the next part starts as this one has left.
        upload.send_part(
            client, part, None, where, on_left=left if client.overlaps(dumper.part_size) else None
        )
        sent.add(part.index)

    sender = overlap.PartSender(send_early)
    with sender.running():
        made = dumper.run("overlapped", sender.offer, lambda _raw, _written: sender.check())
    sender.check()
    dumped = time.perf_counter()
    upload.send_parts(client, made, where, skip=sent, on_sent=_ignore)
    return made, len(sent), dumped


@dataclass(frozen=True)
class _Dumper:
    params: source.SourceParams
    database: str
    spool: Path
    level: int
    threads: int
    part_size: int

    def run(
        self,
        name: str,
        on_part: Callable[[stream.PartFile], None] | None,
        on_bytes: Callable[[int, int], None] | None,
    ) -> stream.Artifact:
        return dump.dump_database(
            self.params,
            self.database,
            self.spool,
            f"{self.database}-{name}.pgdump.zst",
            part_size=self.part_size,
            zstd_level=self.level,
            zstd_threads=self.threads,
            on_bytes=on_bytes,
            on_part=on_part,
            announce_last=False,  # as the dump step: the last part goes with the final manifest
        )


def _ignore(_part: upload.SentPartJSON, _migrated: upload.Migration | None) -> None:
    """The benchmark keeps no record of sent parts: the stand-in never moves the chat."""
