"""`python -m chaos [--jobs 50] [--json FILE]`: the chaos run; exit 0 when every check holds."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from chaos import harness
from chaos.stack import Options


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--restore-sample", type=int, default=5)
    parser.add_argument("--pg-port", type=int, default=25432)
    parser.add_argument("--redis-port", type=int, default=6390)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    config = harness.Config(
        jobs=args.jobs,
        workers=args.workers,
        kills=args.kills,
        restore_sample=args.restore_sample,
        seed=args.seed,
        options=Options(pg_port=args.pg_port, redis_port=args.redis_port),
    )
    report = harness.run(config, scan_leaks=True)
    print(report.render())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(report.to_json())
    return 0 if not report.problems else 1


if __name__ == "__main__":
    sys.exit(main())
