"""The dump of one database into artifact parts in the spool.

pg_dump's checked stream (worker.postgres.dump) goes through the one streaming pass
(worker.artifact.stream): the backup joins the two, so neither package imports the other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from worker.artifact import manifest
from worker.artifact import stream as artifact
from worker.postgres import dump as pgdump
from worker.postgres import snapshot, source


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
    first_part_size: int | None = None,
    announce_last: bool = True,
    first_watch: manifest.FirstPartWatch | None = None,
    extra_args: Sequence[str] = (),
    program: str | None = None,
    lock_wait_timeout: float | None = pgdump.LOCK_WAIT_TIMEOUT,
    application_name: str = pgdump.APPLICATION_NAME,
) -> artifact.Artifact:
    """Dump `database` into artifact parts; a failed pg_dump leaves no part behind.

    `on_part(part)` runs as each part is completed, while pg_dump still runs: its exit status is
    known only when this returns, so no part counts as a backup before then. `first_part_size`
    sizes the first part alone (worker.artifact.stream.first_part_size).
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
                first_part_size=first_part_size,
                announce_last=announce_last,
                first_watch=first_watch,
            )
    except BaseException:
        if result is not None:
            artifact.remove_parts(result)
        raise
    return result


def counted_dump(
    params: source.SourceParams,
    database: str,
    spool_dir: Path,
    filename: str,
    *,
    count_rows: bool,
    **options: Any,
) -> tuple[artifact.Artifact, snapshot.Contents]:
    """dump_database() of the snapshot whose rows are counted meanwhile (and the extensions);
    the counting session stays open until pg_dump has finished, so the snapshot stays
    importable. With a first part streamed as it is written (`first_watch`), the count waits
    until that part is complete: its message starts Telegram's chain of one a second, and a
    count beside it took the server's CPU from the dump that makes it (docs/benchmarks.md,
    "Decisions", "The count after the first part")."""
    lock_wait = options.get("lock_wait_timeout") or pgdump.LOCK_WAIT_TIMEOUT
    held = options.get("first_watch") is not None
    with snapshot.exported(
        params,
        database,
        count_rows=count_rows,
        lock_timeout=lock_wait,
        application_name=options.get("application_name", pgdump.APPLICATION_NAME),
        held=held,
    ) as export:
        extra = [f"--snapshot={export.snapshot}"] if export.snapshot else []
        options["extra_args"] = [*options.get("extra_args", ()), *extra]
        if held:
            options["on_part"] = _counting_from(export, options.get("on_part"))
        made = dump_database(params, database, spool_dir, filename, **options)
        return made, export.contents()


def _counting_from(
    export: snapshot.Export, on_part: Callable[[artifact.PartFile], None] | None
) -> Callable[[artifact.PartFile], None]:
    """`on_part` that first lets the held count go: a part is complete, so the first is."""

    def announce(part: artifact.PartFile) -> None:
        export.begin_counting()
        if on_part is not None:
            on_part(part)

    return announce


def should_count(limit: int | None, estimate: int | None) -> bool:
    """Whether to count rows (BACKUP_ROW_COUNTS: `limit` bytes, None always, 0 never) of a
    database whose tables hold about `estimate` bytes (None: unknown, counted)."""
    if limit is None:
        return True
    return limit > 0 and (estimate is None or estimate <= limit)
