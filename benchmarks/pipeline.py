"""Does compression hold the dump back? The worker's dump pipeline, run in-process on the live
pg_dump stream, with a clock around every read of pg_dump's output.

If the pipeline keeps up, it spends most of its time waiting for pg_dump (high `waiting`
share) and takes about as long as the floor (C). If compression is the bottleneck, reads find
the pipe already full (low share): pg_dump was blocked, writing into a pipe nobody emptied.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from worker.artifact import stream as artifact
from worker.postgres import dump, source

PART_SIZE = 20_000_000  # bytes, the worker's default


@dataclass(frozen=True)
class PipelineRun:
    """One pass of pg_dump -> zstd -> sha256 -> parts, timed."""

    level: int
    threads: int
    seconds: float
    waiting_seconds: float  # inside reads of pg_dump's output
    raw_bytes: int
    size_bytes: int

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {
            "level": self.level,
            "threads": self.threads,
            "seconds": round(self.seconds, 3),
            "waiting_for_pg_dump_seconds": round(self.waiting_seconds, 3),
            "waiting_share": round(self.waiting_seconds / self.seconds, 3) if self.seconds else 0,
            "raw_bytes": self.raw_bytes,
            "size_bytes": self.size_bytes,
        }


class _Clocked:
    """pg_dump's stdout, with the time spent in read() added up."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.waiting = 0.0

    def read(self, size: int = -1, /) -> bytes:
        started = time.perf_counter()
        try:
            return self.stream.read(size)
        finally:
            self.waiting += time.perf_counter() - started


def run(
    params: source.SourceParams, database: str, spool: Path, *, level: int, threads: int
) -> PipelineRun:
    """Dump `database` through the artifact writer once; the parts are removed afterwards."""
    try:
        started = time.perf_counter()
        with dump.pg_dump_stream(params, database) as stream:
            clocked = _Clocked(stream)
            made = artifact.write_artifact(
                cast(BinaryIO, clocked),
                spool,
                f"{database}-pipeline.pgdump.zst",
                part_size=PART_SIZE,
                zstd_level=level,
                zstd_threads=threads,
            )
        seconds = time.perf_counter() - started
        artifact.remove_parts(made)
    finally:
        shutil.rmtree(spool, ignore_errors=True)
    return PipelineRun(level, threads, seconds, clocked.waiting, made.raw_bytes, made.size_bytes)
