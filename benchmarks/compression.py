"""The zstd level/threads table, measured on the benchmark database's own dump.

A sample of `pg_dump -Fc -Z0`'s output (the whole dump, or evenly spaced 1 MiB chunks of it) is
compressed in-process with the same library and call the worker uses (`stream_reader`), once per
level and thread count. zlib level 6 (pg_dump -Fc's default) is measured on the same sample for
comparison. A level "does not hold the dump back" when it compresses faster than pg_dump
produces bytes (the floor's rate), with HEADROOM to spare for the other work sharing the cores.
"""

from __future__ import annotations

import subprocess
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import zstandard

from benchmarks import baseline
from worker.artifact import stream as artifact
from worker.postgres import source

CHUNK = 1 << 20  # bytes
HEADROOM = 1.5  # compression must run this many times faster than pg_dump produces
ZLIB_LEVEL = 6  # pg_dump -Fc's default (Z_DEFAULT_COMPRESSION)


@dataclass(frozen=True)
class Measurement:
    """One compressor on the sample."""

    codec: str  # "zstd" or "zlib"
    level: int
    threads: int
    seconds: float
    cpu_seconds: float
    input_bytes: int
    output_bytes: int

    @property
    def ratio(self) -> float:
        """Input bytes per output byte."""
        return self.input_bytes / max(self.output_bytes, 1)

    @property
    def rate(self) -> float:
        """Input bytes per wall-clock second."""
        return self.input_bytes / max(self.seconds, 1e-9)

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {
            "codec": self.codec,
            "level": self.level,
            "threads": self.threads,
            "seconds": round(self.seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "input_bytes": self.input_bytes,
            "output_bytes": self.output_bytes,
            "ratio": round(self.ratio, 3),
            "mb_per_s": round(self.rate / 1e6, 1),
        }


def take_sample(
    params: source.SourceParams, database: str, path: Path, *, max_bytes: int, estimate: int
) -> int:
    """Write up to `max_bytes` of the raw dump to `path`: all of it, or every k-th chunk."""
    stride = max(1, -(-estimate // max(max_bytes, CHUNK)))
    kept = 0
    argv = baseline.pg_dump_argv(params, database, "--compress=0")
    with (
        subprocess.Popen(argv, stdout=subprocess.PIPE, env=params.env()) as dump,
        path.open("wb") as out,
    ):
        assert dump.stdout is not None
        number = 0
        while chunk := dump.stdout.read(CHUNK):
            if number % stride == 0 and kept < max_bytes:
                out.write(chunk)
                kept += len(chunk)
            number += 1
    if dump.returncode != 0:
        raise RuntimeError(f"pg_dump exited with status {dump.returncode}")
    return kept


def zstd(path: Path, level: int, threads: int) -> Measurement:
    """Compress the sample as the worker does; bytes out are counted, not kept."""
    compressor = zstandard.ZstdCompressor(
        compression_params=artifact.zstd_parameters(level, threads)
    )
    out = 0
    with path.open("rb") as raw:
        wall, cpu = time.perf_counter(), time.process_time()
        reader = compressor.stream_reader(raw, read_size=CHUNK)
        while data := reader.read(CHUNK):
            out += len(data)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Measurement("zstd", level, threads, wall, cpu, path.stat().st_size, out)


def gzip_reference(path: Path) -> Measurement:
    """zlib at pg_dump -Fc's default level, on the same sample."""
    compressor = zlib.compressobj(ZLIB_LEVEL)
    out = 0
    with path.open("rb") as raw:
        wall, cpu = time.perf_counter(), time.process_time()
        while chunk := raw.read(CHUNK):
            out += len(compressor.compress(chunk))
        out += len(compressor.flush())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Measurement("zlib", ZLIB_LEVEL, 0, wall, cpu, path.stat().st_size, out)


def table(path: Path, levels: list[int], threads: list[int]) -> list[Measurement]:
    """zlib-6, then zstd at every level and thread count."""
    found = [gzip_reference(path)]
    for level in levels:
        for count in threads:
            found.append(zstd(path, level, count))
    return found


def recommend(
    measured: list[Measurement], *, dump_rate: float, pg_dump_fc_ratio: float
) -> dict[str, object]:
    """The level: the lowest whose artifact is no larger than pg_dump -Fc's (zlib's ratio
    when none is). The threads: the fewest with which that level compresses HEADROOM x faster
    than pg_dump produces, else the fastest measured. Per thread count, the highest level
    that keeps up is listed too."""
    zstd = [m for m in measured if m.codec == "zstd"]
    chosen: dict[str, object] = {}
    for count in sorted({m.threads for m in zstd}):
        fast = [m for m in zstd if m.threads == count and m.rate >= HEADROOM * dump_rate]
        best = max(fast, key=lambda m: m.level, default=None)
        chosen[f"highest_level_keeping_up_threads_{count}"] = None if best is None else best.level
    small_enough = [m.level for m in zstd if m.ratio >= pg_dump_fc_ratio]
    level = min(small_enough, default=max((m.level for m in zstd), default=3))
    at_level = sorted((m for m in zstd if m.level == level), key=lambda m: m.threads)
    keeping_up = [m for m in at_level if m.rate >= HEADROOM * dump_rate]
    pick = keeping_up[0] if keeping_up else max(at_level, key=lambda m: m.rate, default=None)
    chosen["level"] = level
    chosen["threads"] = None if pick is None else pick.threads
    chosen["keeps_up"] = bool(keeping_up)
    chosen["pg_dump_fc_ratio"] = round(pg_dump_fc_ratio, 3)
    chosen["dump_mb_per_s"] = round(dump_rate / 1e6, 1)
    chosen["headroom"] = HEADROOM
    return chosen
