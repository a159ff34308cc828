"""Reading an artifact back in one streaming pass: file → age decryption → zstd → a sink.

The pass is push-driven: `pyrage.decrypt_io` (or a plain read loop) reads the joined artifact
8 KiB to 1 MiB at a time and writes into zstd's stream writer, which writes bounded chunks of
at most `chunk_size` bytes into the sink (typically pg_restore's stdin). Memory stays constant
whatever the artifact's size or compression ratio. Errors raised by the sink are re-raised
unchanged, so a caller can tell "pg_restore stopped reading" from "the data is damaged".
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Protocol, cast

import pyrage
import zstandard

from worker import errors
from worker.artifact import keys as identity
from worker.artifact import manifest

DEFAULT_CHUNK_SIZE = 1 << 20  # bytes read from the artifact, and written to the sink, at a time
_NO_MATCH = "no matching keys"


class Sink(Protocol):
    """Where decoded bytes go."""

    def write(self, data: bytes, /) -> object: ...


class Readable(Protocol):
    """Where the artifact comes from."""

    def read(self, size: int = -1, /) -> bytes: ...


def decode(
    source: Path | Readable,
    sink: Sink,
    *,
    compression: str,
    identities: Sequence[object] | None = None,
    recipients: Sequence[str] = (),
    on_bytes: Callable[[int], None] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> int:
    """Decrypt (with `identities`, if given) and decompress the artifact into `sink`.

    `source` is the artifact's file, or a reader of it. Returns the bytes written to the sink.
    `on_bytes(artifact_bytes_read)` runs per chunk read. `recipients` only feeds the message of
    a wrong key. Raises ConfigError when no identity matches, IntegrityError when the data
    cannot be decrypted or decompressed, and the sink's own exception when the sink fails.
    """
    if compression not in manifest.COMPRESSIONS:
        raise errors.InputError(f"unknown compression {compression!r}")
    output = _Output(sink)
    writer: Sink = output
    if compression == "zstd":
        writer = zstandard.ZstdDecompressor().stream_writer(
            cast(IO[bytes], output), write_size=chunk_size, closefd=False
        )
    with contextlib.ExitStack() as opened:
        file = opened.enter_context(source.open("rb")) if isinstance(source, Path) else source
        reader = _Input(file, on_bytes)
        try:
            if identities is not None:
                pyrage.decrypt_io(reader, writer, list(identities))
            else:
                while chunk := reader.read(chunk_size):
                    writer.write(chunk)
            if reader.error is not None:
                raise reader.error
        except BaseException as exc:
            if output.error is not None:
                raise output.error from None
            if reader.error is not None:  # the reader's failure, however the decrypter wrapped it
                raise _described(reader.error, recipients) from None
            raise _described(exc, recipients) from exc
    return output.size


def check_identity(path: Path, identities: Sequence[object], recipients: Sequence[str]) -> None:
    """Decrypt just enough of `path` to know that one of `identities` opens it."""

    class _Enough(Exception):
        pass

    def stop(_data: bytes) -> None:
        raise _Enough

    class _Stopper:
        write = staticmethod(stop)

    try:
        decode(path, _Stopper(), compression="none", identities=identities, recipients=recipients)
    except _Enough:
        return


def _described(exc: BaseException, recipients: Sequence[str]) -> BaseException:
    """The project's error for a failure of the pass itself (not of the sink)."""
    if isinstance(exc, errors.BackupWorkerError) or not isinstance(exc, Exception):
        return exc
    if isinstance(exc, pyrage.DecryptError):
        if _NO_MATCH in str(exc).lower():
            shown = ", ".join(key[:16] + "..." for key in recipients) or "unknown recipients"
            return errors.ConfigError(
                f"{identity.SETTING}: none of its keys can decrypt this backup "
                f"(encrypted to {shown}); point it at the private key of one of those recipients"
            )
        return errors.IntegrityError(f"age decryption failed: {exc}; the artifact is damaged")
    if isinstance(exc, zstandard.ZstdError):
        return errors.IntegrityError(f"zstd decompression failed: {exc}; the artifact is damaged")
    if isinstance(exc, OSError) and exc.errno is None:
        # pyrage reports a failed authentication tag inside the payload as a bare OSError.
        return errors.IntegrityError(
            f"age decryption failed inside the data ({exc}); the artifact is damaged"
        )
    if isinstance(exc, OSError):
        return errors.SpoolError(
            f"cannot read the downloaded artifact: {exc.strerror or type(exc).__name__}"
        )
    return exc


class _Input:
    """The artifact file, counting what is read and keeping the first error."""

    def __init__(self, file: Readable, on_bytes: Callable[[int], None] | None) -> None:
        self.total = 0
        self.error: BaseException | None = None
        self._file = file
        self._on_bytes = on_bytes

    def read(self, size: int = -1, /) -> bytes:
        try:
            data = self._file.read(size)
            self.total += len(data)
            if self._on_bytes is not None and data:
                self._on_bytes(self.total)
            return data
        except BaseException as exc:
            self.error = exc
            raise


class _Output:
    """The sink, counting what is written and keeping the first error it raised."""

    def __init__(self, sink: Sink) -> None:
        self.size = 0
        self.error: BaseException | None = None
        self._sink = sink

    def write(self, data: bytes, /) -> int:
        try:
            self._sink.write(data)
        except BaseException as exc:
            self.error = exc
            raise
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        """Nothing buffered here."""
