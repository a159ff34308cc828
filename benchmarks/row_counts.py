"""What counting every table's rows in the dump's snapshot costs (BACKUP_ROW_COUNTS).

    python -m benchmarks.row_counts [--size-mb 400] [--rounds 3]

Interleaved rounds of: the count alone (worker.postgres.snapshot.exported), and pg_dump -Fc -Z0
of the same database into /dev/null; prints the median of each and their ratio.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import time
from datetime import UTC, datetime

from benchmarks import datagen
from worker.postgres import snapshot


def main(argv: list[str] | None = None) -> int:
    """Run the rounds and print the figures."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.row_counts", description=__doc__)
    parser.add_argument("--size-mb", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    params = datagen.source_params()
    database = datagen.ensure(params, args.size_mb).name
    counts: list[float] = []
    dumps: list[float] = []
    tables = 0
    for _ in range(args.rounds):
        started = time.monotonic()
        with snapshot.exported(params, database, count_rows=True, lock_timeout=60) as export:
            tables = len(export.contents().tables or {})
        counts.append(time.monotonic() - started)
        started = time.monotonic()
        subprocess.run(
            ["pg_dump", "-Fc", "-Z0", f"--dbname={params.conninfo(database)}"],
            stdout=subprocess.DEVNULL,
            check=True,
        )
        dumps.append(time.monotonic() - started)
    count, dump = statistics.median(counts), statistics.median(dumps)
    print(
        f"{datetime.now(UTC):%Y-%m-%d} {platform.machine()} {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.2f}: {database}, {tables} tables; counting {count:.2f} s "
        f"(min {min(counts):.2f}, max {max(counts):.2f}), pg_dump -Fc -Z0 {dump:.2f} s "
        f"(min {min(dumps):.2f}, max {max(dumps):.2f}): counting = {count / dump:.0%} of the dump"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
