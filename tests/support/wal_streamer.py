"""One streamer process for the takeover test: `python -m tests.support.wal_streamer ARGS`.

Arguments: server, source conninfo, control-plane URL, Redis URL, stand-in URL, age key file,
spool directory, and optionally the flush and lease seconds (1 and 3). It streams until
SIGTERM (or a SIGKILL, which is the point).
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import redis

from db import session
from tests.support import wal as support
from worker.wal import lease, streamer


def main(argv: list[str]) -> None:
    server, conninfo, control, redis_url, standin_url, key_file, spool = argv[:7]
    flush, ttl = (float(argv[7]), float(argv[8])) if len(argv) > 8 else (1.0, 3.0)
    logging.basicConfig(level=logging.INFO)
    database = session.Database(control)
    config = streamer.Config(server, conninfo, Path(spool), flush_seconds=flush, lease_seconds=ttl)
    client = redis.Redis.from_url(redis_url)
    target = support.store_at(standin_url, Path(spool).parent / "parts", Path(key_file))
    stream = streamer.Streamer(config, database, target, lease.Lease(client, server, ttl))
    signal.signal(signal.SIGTERM, lambda *_: stream.stop.set())
    stream.run()


if __name__ == "__main__":
    main(sys.argv[1:])
