"""The baselines the worker is measured against, run as the plain tools they are.

- the naive script (B): `pg_dump -Fc` (its default zlib compression) to a file, `split -b 20M`,
  then one `curl -F document=@part` per part to sendDocument:

      pg_dump -Fc -d DB -f dump && split -b 20M dump dump.part. &&
      for p in dump.part.*; do curl -sSf -F chat_id=C -F document=@$p URL/bot$T/sendDocument; done

- the floor (C): `pg_dump -Fc -Z0`, its output read from a pipe and dropped, what dumping alone
  costs; when each byte came is kept, for the time pg_dump takes to write a first part.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks import cputime, report
from worker.postgres import dump as pgdump
from worker.postgres import source

NAIVE_PART_SIZE = 20 * 1024 * 1024  # bytes: `split -b 20M`
CURL_TIMEOUT = 600  # seconds per part
CURL_RETRIES = 10  # 429 answers a part may get before the naive run gives up


@dataclass(frozen=True)
class FloorRun:
    """One run of the floor."""

    seconds: float
    cpu_seconds: float  # pg_dump's own; the server backend's is not counted (nor in A or B)
    load_before: list[float]  # the load average just before it: the round's conditions
    # (bytes of output so far, seconds from pg_dump's start), one entry per read of the pipe
    output: tuple[tuple[int, float], ...] = ()

    def seconds_to(self, size: int) -> float:
        """Seconds from pg_dump's start until its output held `size` bytes (its first read's
        when `size` is 0 or less; the whole run's when it never did)."""
        for written, seconds in self.output:
            if written >= size:
                return seconds
        return self.seconds

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {
            "seconds": round(self.seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "load_average_before": self.load_before,
        }


@dataclass(frozen=True)
class NaiveRun:
    """One run of the naive script, with the time of each of its stages."""

    seconds: float
    dump_seconds: float
    split_seconds: float
    upload_seconds: float
    size_bytes: int  # the pg_dump -Fc file
    parts: int
    cpu_seconds: float = 0.0  # pg_dump, split and every curl
    refused: int = 0  # 429 answers (each one a part uploaded again after its retry_after)

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {
            "seconds": round(self.seconds, 3),
            "dump_seconds": round(self.dump_seconds, 3),
            "split_seconds": round(self.split_seconds, 3),
            "upload_seconds": round(self.upload_seconds, 3),
            "size_bytes": self.size_bytes,
            "parts": self.parts,
            "cpu_seconds": round(self.cpu_seconds, 3),
        }


def pg_dump_argv(params: source.SourceParams, database: str, *extra: str) -> list[str]:
    """pg_dump in custom format for `database`; the password travels in the environment."""
    dbname = f"--dbname={params.conninfo(database)}"
    return ["pg_dump", "--format=custom", "--no-password", dbname, *extra]


def floor(params: source.SourceParams, database: str) -> FloorRun:
    """`pg_dump -Fc -Z0`, timed, its output read from a pipe as it comes and dropped."""
    load = report.load_average()
    cpu = cputime.children()
    argv = pg_dump_argv(params, database, "--compress=0")
    output: list[tuple[int, float]] = []
    written = 0
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, env=params.env())
    assert process.stdout is not None
    with process.stdout:
        with contextlib.suppress(OSError):
            fcntl.fcntl(process.stdout.fileno(), fcntl.F_SETPIPE_SZ, pgdump.PIPE_SIZE)
        while chunk := os.read(process.stdout.fileno(), pgdump.PIPE_SIZE):
            written += len(chunk)
            output.append((written, time.perf_counter() - started))
    if process.wait() != 0:
        raise subprocess.CalledProcessError(process.returncode, argv[0])
    seconds = time.perf_counter() - started
    return FloorRun(seconds, cputime.children() - cpu, load, tuple(output))


def naive(
    params: source.SourceParams,
    database: str,
    workdir: Path,
    *,
    send_document_url: str,
    chat_id: str,
    part_size: int = NAIVE_PART_SIZE,
) -> NaiveRun:
    """Run the naive script once in `workdir` (emptied afterwards)."""
    workdir.mkdir(parents=True, exist_ok=True)
    dump = workdir / "dump.pgdump"
    try:
        cpu = cputime.children()
        started = time.perf_counter()
        subprocess.run(
            pg_dump_argv(params, database, f"--file={dump}"), env=params.env(), check=True
        )
        dumped = time.perf_counter()
        subprocess.run(
            ["split", "-b", str(part_size), str(dump), str(workdir / "dump.part.")], check=True
        )
        split = time.perf_counter()
        parts = sorted(workdir.glob("dump.part.*"))
        refused = sum(send_with_curl(send_document_url, chat_id, part) for part in parts)
        finished = time.perf_counter()
        return NaiveRun(
            seconds=finished - started,
            dump_seconds=dumped - started,
            split_seconds=split - dumped,
            upload_seconds=finished - split,
            size_bytes=dump.stat().st_size,
            parts=len(parts),
            cpu_seconds=cputime.children() - cpu,
            refused=refused,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def send_with_curl(url: str, chat_id: str, path: Path) -> int:
    """`curl -F document=@path` to sendDocument, again after a 429's retry_after (as a careful
    script would); raises unless the Bot API answers ok. Returns the 429s it got."""
    for refused in range(CURL_RETRIES + 1):
        done = subprocess.run(
            ["curl", "-sS", "-F", f"chat_id={chat_id}", "-F", f"document=@{path}", url],
            capture_output=True,
            timeout=CURL_TIMEOUT,
            check=True,
        )
        reply = json.loads(done.stdout)
        if reply.get("ok"):
            return refused
        retry_after = (reply.get("parameters") or {}).get("retry_after")
        if reply.get("error_code") != 429 or retry_after is None:
            break
        time.sleep(float(retry_after))
    raise RuntimeError(f"sendDocument refused {path.name}: {reply.get('description')}")
