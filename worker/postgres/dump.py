"""pg_dump as a stream: its output, its exit status and its stderr, checked.

The dump of one database into artifact parts is worker.backup.dump, which runs this stream
through the artifact pass.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator, Sequence
from typing import BinaryIO, cast

from worker import errors
from worker.postgres import source

STDERR_TAIL = 64 * 1024  # bytes of pg_dump's stderr kept for the error message
PIPE_SIZE = 1 << 20  # bytes; Linux's default pipe-max-size, lets pg_dump run ahead of us
VERSION_TIMEOUT = 30  # seconds
_MISSING = (
    "pg_dump was not found on PATH: install postgresql-client "
    "(the source server's major version or newer)"
)


def pg_dump_version() -> str:
    """The version of the pg_dump on PATH, e.g. "15.20"."""
    try:
        done = subprocess.run(
            [_pg_dump_path(), "--version"],
            capture_output=True,
            text=True,
            timeout=VERSION_TIMEOUT,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise errors.DumpError(f"pg_dump --version failed: {type(exc).__name__}") from None
    match = re.search(r"\d+(?:\.\d+)+", done.stdout)
    if match is None:
        raise errors.DumpError(f"pg_dump --version printed no version: {done.stdout[:100]!r}")
    return match.group()


@contextlib.contextmanager
def pg_dump_stream(
    params: source.SourceParams, database: str, *, extra_args: Sequence[str] = ()
) -> Iterator[BinaryIO]:
    """Run pg_dump (custom format, uncompressed) and yield its output; DumpError if it fails.

    The exit status is checked when the block ends: read the stream to its end inside the block.
    If the block raises, pg_dump is killed and the block's exception propagates unchanged.
    """
    name = source.validate_database_name(database)
    argv = [
        _pg_dump_path(),
        "--format=custom",
        "--compress=0",
        "--no-password",
        f"--dbname={params.conninfo(name)}",
        *extra_args,
    ]
    environment = params.env()
    # English messages, so that describe_libpq_error recognises them.
    environment.pop("LC_ALL", None)
    environment["LC_MESSAGES"] = "C"
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
        )
    except FileNotFoundError:
        raise errors.DumpError(_MISSING) from None
    except OSError as exc:
        raise errors.DumpError(f"cannot start pg_dump: {exc.strerror}") from None
    assert process.stdout is not None
    assert process.stderr is not None
    with contextlib.suppress(OSError):
        fcntl.fcntl(process.stdout.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    stderr = _StderrTail(process.stderr.fileno())
    stderr.start()
    try:
        yield cast(BinaryIO, process.stdout)
    except BaseException:
        if process.poll() is None:
            process.kill()
        _reap(process, stderr)
        raise
    # pg_dump still writing means the block stopped early: closing our end fails it (SIGPIPE).
    returncode = _reap(process, stderr)
    if returncode != 0:
        raise errors.DumpError(_failure(params, returncode, stderr.text()))


class _StderrTail(threading.Thread):
    """Drains pg_dump's stderr so it never blocks, keeping the last STDERR_TAIL bytes."""

    def __init__(self, fd: int) -> None:
        super().__init__(name="pg_dump-stderr", daemon=True)
        self._fd = fd
        self._tail = bytearray()
        self._trimmed = False

    def run(self) -> None:
        with contextlib.suppress(OSError):
            while chunk := os.read(self._fd, STDERR_TAIL):
                self._tail += chunk
                if len(self._tail) > STDERR_TAIL:
                    del self._tail[:-STDERR_TAIL]
                    self._trimmed = True

    def text(self) -> str:
        """The kept stderr, without a line cut in half by the trimming."""
        text = self._tail.decode("utf-8", "replace")
        if self._trimmed:
            text = text.partition("\n")[2]
        return text


def _pg_dump_path() -> str:
    path = shutil.which("pg_dump")
    if path is None:
        raise errors.DumpError(_MISSING)
    return path


def _reap(process: subprocess.Popen[bytes], stderr: _StderrTail) -> int:
    assert process.stdout is not None
    process.stdout.close()
    returncode = process.wait()
    stderr.join()
    assert process.stderr is not None
    process.stderr.close()
    return returncode


def _failure(params: source.SourceParams, returncode: int, stderr: str) -> str:
    described = source.describe_libpq_error(params, stderr) if stderr.strip() else ""
    if returncode > 0:
        return f"pg_dump failed: {described or f'exit status {returncode}'}"
    try:
        how = f"was killed by {signal.Signals(-returncode).name}"
    except ValueError:
        how = f"was killed by signal {-returncode}"
    if returncode == -signal.SIGPIPE:
        how += " (its output was not read to the end)"
    return f"pg_dump {how}" + (f": {described}" if described else "")
