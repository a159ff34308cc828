"""One streaming pass from a source to part files: source → zstd → age → SHA-256 + split.

Memory stays constant: the source is read in chunks of `chunk_size` bytes, and only the chunk in
flight (plus zstd's and age's own bounded buffers) is ever held. The pass is pull-driven from the
end: `pyrage.encrypt_io` (or a plain copy loop) reads from the zstd stream reader, which reads from
the source, and writes into the part writer. No thread or pipe sits in between, and nothing
unencrypted reaches the spool when recipients are set.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, BinaryIO, Protocol, cast

import pyrage
import zstandard

from worker import defaults, errors
from worker.artifact import manifest

Artifact = manifest.Artifact
PartFile = manifest.PartFile
remove_parts = manifest.remove_parts

DEFAULT_CHUNK_SIZE = 1 << 20  # bytes read from the source at a time
MT_JOB_SIZE = 2 << 20  # bytes per zstd job when zstd_threads >= 1 (bounds its buffers)
# A backup's first part is what the same database's last artifact left over its full parts, plus
# this share of it for growth: the first message comes as early as it can without one more part
# (each part is a message, and a chat takes one a second). Without a last backup, half a part.
# Why: docs/benchmarks.md, "Decisions", "Part sizes".
FIRST_PART_ROOM = 0.01
_NAME_COMPONENT_MAX = 64  # characters of project id / database name kept in a file name
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
_PART_SUFFIX = re.compile(r"\.[0-9]{3,}")
# Level 2 (zstd's "fast" strategy) with level 3's hash table (2^17 entries) and window (2 MiB)
# instead of its own (2^16, 1 MiB): on the benchmark's dump 84.4 MB against level 2's 86.4 MB
# (larger than pg_dump -Fc's 85.6 MB) and level 3's 85.0 MB, for 0.95 CPU s per 269 MB against
# level 3's 1.25 (docs/benchmarks.md, "Decisions"). Other levels are zstd's own.
_LEVEL_TABLES: dict[int, dict[str, int]] = {2: {"hash_log": 17, "window_log": 21}}


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


def artifact_filename(
    project_id: str,
    database: str,
    job_id: uuid.UUID,
    *,
    when: datetime,
    compression: str,
    encrypted: bool,
) -> str:
    """`<project>_<database>_<YYYYmmddTHHMMSSZ>_<job id[:8]>.pgdump[.zst][.age]`, shell-safe."""
    if when.utcoffset() is None:
        raise errors.InputError("artifact_filename: `when` must be timezone-aware")
    _check_compression(compression)
    stamp = when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    suffix = ".pgdump" + (".zst" if compression == "zstd" else "") + (".age" if encrypted else "")
    return f"{_safe(project_id)}_{_safe(database)}_{stamp}_{job_id.hex[:8]}{suffix}"


def parse_recipients(keys: Sequence[str]) -> list[object]:
    """pyrage recipients for age public keys (`age1...`, `ssh-ed25519 ...`, `ssh-rsa ...`)."""
    parsed: list[object] = []
    for position, text in enumerate(_key_list(keys), 1):
        try:
            if text.startswith("ssh-"):
                parsed.append(pyrage.ssh.Recipient.from_str(text))
            else:
                parsed.append(pyrage.x25519.Recipient.from_str(text))
        except (pyrage.RecipientError, ValueError, TypeError):
            raise errors.ConfigError(
                f"BACKUP_AGE_RECIPIENTS: {_describe_bad_key(text, position)}"
            ) from None
    return parsed


def write_artifact(
    source: BinaryIO,
    spool_dir: Path,
    filename: str,
    *,
    part_size: int,
    compression: str = "zstd",
    zstd_level: int = 3,
    zstd_threads: int = 0,
    recipients: Sequence[str] = (),
    on_bytes: Callable[[int, int], None] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    open_part: Callable[[Path], BinaryIO] | None = None,
    on_part: Callable[[PartFile], None] | None = None,
    first_part_size: int | None = None,
    announce_last: bool = True,
    first_watch: manifest.FirstPartWatch | None = None,
) -> Artifact:
    """Compress, encrypt, hash and split `source` into `<filename>.001`, `.002`, ... in one pass.

    `zstd_threads` is zstd's worker count: 0 compresses in the calling thread, N >= 1 hands the
    compression to N zstd worker threads (the caller only feeds them). `on_bytes(raw_read,
    artifact_written)` runs once per source chunk and once at the end; an exception it raises
    aborts the pass. Stale parts of the same filename are replaced. On any failure every part
    written so far is removed; a full spool raises SpoolError. `open_part` creates a part file
    (default: exclusive create, unbuffered); `on_part(part)` runs as each part is completed
    (see manifest.PartWriter), the last one too unless `announce_last` is False.
    `first_part_size` sizes the first part alone, the others taking `part_size`
    (first_part_size). `first_watch` follows the first part as it is written
    (worker.artifact.growing).
    """
    _check_arguments(
        filename,
        part_size=part_size,
        compression=compression,
        level=zstd_level,
        threads=zstd_threads,
        chunk_size=chunk_size,
    )
    if first_part_size is not None and first_part_size < 1:
        raise errors.InputError("first_part_size must be positive")
    keys = _key_list(recipients)
    parsed = parse_recipients(keys)
    _prepare_spool(spool_dir, filename)
    sink = manifest.PartWriter(
        spool_dir,
        filename,
        part_size,
        open_part,
        on_part,
        first_part_size=first_part_size,
        announce_last=announce_last,
        first_watch=first_watch,
    )
    reader = _Chunked(source, chunk_size)
    if on_bytes is not None:
        reader.on_chunk = lambda: on_bytes(reader.total, sink.size)
    feeds = [reader]
    try:
        stream: _Readable = reader
        if compression == "zstd":
            compressor = zstandard.ZstdCompressor(
                compression_params=zstd_parameters(zstd_level, zstd_threads)
            )
            stream = compressor.stream_reader(
                cast(IO[bytes], reader), read_size=chunk_size, closefd=False
            )
            # age reads 8 KiB at a time: serve those from big reads of the zstd stream.
            feeds.append(_Chunked(stream, chunk_size))
        if parsed:
            # encrypt_io turns errors raised by our reader/writer into EncryptError; the
            # originals are kept in their `error` attributes and re-raised below.
            pyrage.encrypt_io(feeds[-1], sink, parsed)
        else:
            while data := stream.read(chunk_size):
                sink.write(data)
        for failure in (sink.error, *(feed.error for feed in feeds)):
            if failure is not None:
                raise failure
        parts = sink.finish()
        if on_bytes is not None:
            on_bytes(reader.total, sink.size)
    except BaseException as exc:
        sink.discard()
        recorded = (sink.error, *(feed.error for feed in feeds))
        original = next((error for error in recorded if error is not None), exc)
        if original is sink.error and isinstance(original, OSError):
            raise _spool_error(original, spool_dir, filename, sink.size) from original
        if original is not exc:
            raise original from original.__cause__  # keep its own cause, drop pyrage's wrapper
        if isinstance(exc, pyrage.EncryptError):
            raise errors.DumpError(f"age encryption failed: {exc}") from None
        raise
    return Artifact(
        filename=filename,
        compression=compression,
        encrypted=bool(parsed),
        recipients=tuple(keys),
        size_bytes=sink.size,
        sha256=sink.sha256,
        raw_bytes=reader.total,
        parts=parts,
    )


def first_part_size(part_size: int, previous: int | None = None) -> int:
    """The first part's size of an artifact whose other parts take `part_size` bytes, given the
    size of the same database's last artifact (None: no earlier backup, half a part)."""
    smallest = min(defaults.MIN_PART_SIZE, part_size)
    if previous is None or previous < 1:
        return max(part_size // 2, smallest)
    left = previous % part_size or part_size  # what the last artifact put past its full parts
    room = max(round(previous * FIRST_PART_ROOM), smallest)
    return max(smallest, min(part_size, left + room))


class _Chunked:
    """Reads a stream in big chunks and serves reads of any size; keeps the first error."""

    def __init__(self, stream: _Readable, chunk_size: int) -> None:
        self.total = 0  # bytes read from the stream so far
        self.error: BaseException | None = None
        self.on_chunk: Callable[[], None] | None = None
        self._stream = stream
        self._chunk_size = chunk_size
        self._buffer = b""
        self._offset = 0

    def read(self, size: int = -1, /) -> bytes:
        try:
            if self._offset >= len(self._buffer):
                self._buffer = self._stream.read(max(size, self._chunk_size))
                self._offset = 0
                if self._buffer:
                    self.total += len(self._buffer)
                    if self.on_chunk is not None:
                        self.on_chunk()
            start, end = self._offset, len(self._buffer)
            self._offset = end if size < 0 else min(start + size, end)
            if start == 0 and self._offset == end:
                return self._buffer  # the whole chunk: no copy
            return self._buffer[start : self._offset]
        except BaseException as exc:
            self.error = exc
            raise


def zstd_parameters(level: int, threads: int) -> zstandard.ZstdCompressionParameters:
    """The compression parameters of the pass at `level` with `threads` zstd worker threads."""
    # With worker threads zstd cuts the input into jobs of 4 windows (8 MiB at level 3) and
    # keeps several in flight: about 40 MB per backup. 2 MiB jobs keep that near 12 MB and
    # compressed the benchmark dumps as small (docs/benchmarks.md, "Decisions").
    jobs = {"job_size": MT_JOB_SIZE} if threads else {}
    return zstandard.ZstdCompressionParameters.from_level(
        level, threads=threads, write_checksum=1, **jobs, **_LEVEL_TABLES.get(level, {})
    )


def _check_compression(compression: str) -> None:
    if compression not in manifest.COMPRESSIONS:
        raise errors.InputError(f"compression must be 'zstd' or 'none', not {compression!r}")


def _check_arguments(
    filename: str, *, part_size: int, compression: str, level: int, threads: int, chunk_size: int
) -> None:
    if not filename or filename in (".", "..") or "/" in filename or "\0" in filename:
        raise errors.InputError("artifact filename must be a plain file name")
    if part_size < 1 or chunk_size < 1:
        raise errors.InputError("part_size and chunk_size must be positive")
    _check_compression(compression)
    if not 1 <= level <= zstandard.MAX_COMPRESSION_LEVEL:
        raise errors.InputError(f"zstd level must be 1..{zstandard.MAX_COMPRESSION_LEVEL}")
    if threads < 0:
        raise errors.InputError("zstd threads must be 0 (no worker threads) or more")


def _prepare_spool(spool_dir: Path, filename: str) -> None:
    try:
        spool_dir.mkdir(parents=True, exist_ok=True)
        # Leftovers of an earlier attempt with the same (job-specific) name would join the new
        # parts under `cat <filename>.*`.
        stale = [p for p in spool_dir.iterdir() if _is_part_of(p.name, filename)]
    except OSError as exc:
        raise _spool_error(exc, spool_dir, filename, 0) from exc
    remove_parts(stale)


def _is_part_of(name: str, filename: str) -> bool:
    return name.startswith(filename) and _PART_SUFFIX.fullmatch(name[len(filename) :]) is not None


def _spool_error(exc: OSError, spool_dir: Path, filename: str, written: int) -> errors.SpoolError:
    if exc.errno in errors.SPOOL_FULL_ERRNOS:
        return errors.SpoolError(
            f"spool directory {spool_dir} is full: writing {filename} failed after {written} "
            "bytes; free space there or point BACKUP_SPOOL_DIR at a larger disk"
        )
    return errors.SpoolError(
        f"cannot write to spool directory {spool_dir}: {exc.strerror or type(exc).__name__}"
    )


def _key_list(keys: Sequence[str]) -> list[str]:
    if isinstance(keys, str):  # one string of keys, as BACKUP_AGE_RECIPIENTS holds them
        return keys.replace(",", " ").split()
    return [key.strip() if isinstance(key, str) else "" for key in keys]


def _safe(value: str) -> str:
    return _UNSAFE_NAME_CHARS.sub("-", value)[:_NAME_COMPONENT_MAX].strip("-") or "_"


def _describe_bad_key(text: str, position: int) -> str:
    if "SECRET-KEY" in text.upper():
        return (
            f"recipient #{position} is an age secret key (not shown); put its public key "
            "(age1..., from `age-keygen -y`) here and keep the secret in BACKUP_AGE_IDENTITY_FILE"
        )
    if text.startswith(("age1", "ssh-")):
        return f"recipient #{position} ({text[:100]!r}) is not a valid age public key"
    return (
        f"recipient #{position} is not an age public key (value not shown); "
        "expected age1... or ssh-ed25519 ..."
    )
