"""The local archive pg_restore --jobs reads: the artifact decoded while it downloads.

The download step hands `decoder(...)` to fetch.fetch, which runs it beside the downloads: it
decrypts and decompresses each part, once that part passed its checks, into the job's spool
(worker.jobs.spool.archive), and once the last byte is in, writes the data offsets that pg_dump
could not write into a pipe (worker.postgres.offsets). The load step then starts pg_restore at
once. A failed check anywhere discards the archive with the job's spool: pg_restore never reads
one whose artifact did not pass every check.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from worker import errors
from worker.artifact import unpack
from worker.jobs import runtime, spool
from worker.postgres import offsets
from worker.restore import ordered

log = logging.getLogger(__name__)

# Under the mmap threshold the worker fixes (worker.jobs.runtime): buffers this small come from
# the heap and are reused, where 1 MiB ones are mapped and faulted in afresh each time (measured:
# 130,000 page faults per restore of a 268 MB archive, about 700 with these; three restores each).
CHUNK_SIZE = runtime.MMAP_THRESHOLD // 2


def decoder(
    path: Path,
    *,
    compression: str,
    identities: Sequence[object] | None,
    recipients: Sequence[str],
) -> ordered.Consumer:
    """A consumer that decodes the artifact it reads into the archive at `path`."""

    def consume(stream: ordered.InOrder) -> None:
        with spool.private_file(path, truncate=True) as file:
            scanner = offsets.Scanner(file)
            try:
                unpack.decode(
                    stream,
                    scanner,
                    compression=compression,
                    identities=identities,
                    recipients=recipients,
                    chunk_size=CHUNK_SIZE,
                )
                file.flush()
            except OSError as exc:  # the sink's own: writing the archive
                raise errors.SpoolError(
                    f"cannot write the decoded archive into the spool ({path.parent}): "
                    f"{exc.strerror or type(exc).__name__}"
                ) from exc
            found = scanner.apply(file.fileno())
        log.debug("archive %s: data offsets written for %d entries", path, found)

    return consume
