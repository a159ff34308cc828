"""The dump of one database into artifact parts in the spool.

pg_dump's checked stream (worker.postgres.dump) goes through the one streaming pass
(worker.artifact.stream): the backup joins the two, so neither package imports the other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from worker.artifact import stream as artifact
from worker.postgres import dump as pgdump
from worker.postgres import source


def dump_database(
    params: source.SourceParams,
    database: str,
    spool_dir: Path,
    filename: str,
    *,
    part_size: int,
    compression: str = "zstd",
    zstd_level: int = 3,
    zstd_threads: int = 0,
    recipients: Sequence[str] = (),
    on_bytes: Callable[[int, int], None] | None = None,
    on_part: Callable[[artifact.PartFile], None] | None = None,
    extra_args: Sequence[str] = (),
    program: str | None = None,
    lock_wait_timeout: float | None = pgdump.LOCK_WAIT_TIMEOUT,
    application_name: str = pgdump.APPLICATION_NAME,
) -> artifact.Artifact:
    """Dump `database` into artifact parts; a failed pg_dump leaves no part behind.

    `on_part(part)` runs as each part is completed, while pg_dump still runs: its exit status is
    known only when this returns, so no part counts as a backup before then.
    """
    artifact.parse_recipients(recipients)  # a bad key fails before pg_dump starts
    result: artifact.Artifact | None = None
    try:
        with pgdump.pg_dump_stream(
            params,
            database,
            extra_args=extra_args,
            program=program,
            lock_wait_timeout=lock_wait_timeout,
            application_name=application_name,
        ) as stream:
            result = artifact.write_artifact(
                stream,
                spool_dir,
                filename,
                part_size=part_size,
                compression=compression,
                zstd_level=zstd_level,
                zstd_threads=zstd_threads,
                recipients=recipients,
                on_bytes=on_bytes,
                on_part=on_part,
            )
    except BaseException:
        if result is not None:
            artifact.remove_parts(result)
        raise
    return result
