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

from worker import defaults, errors
from worker.postgres import source

STDERR_TAIL = 64 * 1024  # bytes of pg_dump's stderr kept for the error message
PIPE_SIZE = 1 << 20  # bytes; Linux's default pipe-max-size, lets pg_dump run ahead of us
VERSION_TIMEOUT = 30  # seconds
LOCK_WAIT_TIMEOUT = float(defaults.DEFAULT_LOCK_WAIT_TIMEOUT)  # seconds; SOURCE_LOCK_WAIT_TIMEOUT
# libpq's and the server's words for a connection that went away (or could not be made while
# the server restarts); never an authentication or "does not exist" error, which is for good.
_CONNECTION_LOST = re.compile(
    r"server closed the connection unexpectedly"
    r"|terminating connection due to administrator command"
    r"|could not receive data from server|no connection to the server"
    r"|lost synchronization with server|SSL SYSCALL error"
    r"|the database system is (?:shutting down|starting up|in recovery mode|not yet accepting)"
    r"|canceling statement due to conflict with recovery"
    r"|Connection refused|timeout expired|No route to host|Connection reset by peer",
    re.IGNORECASE,
)
APPLICATION_NAME = "backup-worker"  # pg_stat_activity shows who runs the dump
# A busy server may set a short statement_timeout for everyone; a dump's COPY runs for hours.
SESSION_OPTIONS = "-c statement_timeout=0"
_LOCK_FAILURES = (
    # pg_dump's own LOCK TABLE ran into --lock-wait-timeout (it sets it as statement_timeout).
    re.compile(
        r"canceling statement due to (?:statement|lock) timeout.*?"
        r"Query was: LOCK TABLE (\S+) IN ACCESS SHARE MODE",
        re.DOTALL,
    ),
    # A parallel dump's worker found the table locked after the leader had locked it.
    re.compile(r'could not obtain lock on relation "([^"]+)"'),
)
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
            env=source.program_env(),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise errors.DumpError(f"pg_dump --version failed: {type(exc).__name__}") from None
    match = re.search(r"\d+(?:\.\d+)+", done.stdout)
    if match is None:
        raise errors.DumpError(f"pg_dump --version printed no version: {done.stdout[:100]!r}")
    return match.group()


@contextlib.contextmanager
def pg_dump_stream(
    params: source.SourceParams,
    database: str,
    *,
    extra_args: Sequence[str] = (),
    program: str | None = None,
    lock_wait_timeout: float | None = LOCK_WAIT_TIMEOUT,
    application_name: str = APPLICATION_NAME,
) -> Iterator[BinaryIO]:
    """Run pg_dump (custom format, uncompressed) and yield its output; DumpError if it fails.

    The exit status is checked when the block ends: read the stream to its end inside the block.
    If the block raises, pg_dump is killed and the block's exception propagates unchanged.
    `program` is the pg_dump to run (clients.choose), PATH's by default; `lock_wait_timeout`
    (seconds, None: wait forever) bounds the wait for each table's lock.
    """
    name = source.validate_database_name(database)
    argv = [
        program or _pg_dump_path(),
        "--format=custom",
        "--compress=0",
        "--no-password",
        f"--dbname={params.conninfo(name)}",
    ]
    if lock_wait_timeout is not None:
        argv.append(f"--lock-wait-timeout={max(1, round(lock_wait_timeout * 1000))}")
    argv += extra_args
    environment = params.env()
    # English messages, so that describe_libpq_error recognises them.
    environment.pop("LC_ALL", None)
    environment["LC_MESSAGES"] = "C"
    # The environment, not the conninfo, so a URL's own application_name/options still win.
    environment["PGAPPNAME"] = application_name
    environment["PGOPTIONS"] = " ".join(
        filter(None, [environment.get("PGOPTIONS"), SESSION_OPTIONS])
    )
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
        text = stderr.text()
        failure = errors.DumpInterrupted if interrupted(returncode, text) else errors.DumpError
        raise failure(_failure(params, returncode, text, lock_wait_timeout))


def interrupted(returncode: int, stderr: str) -> bool:
    """Whether pg_dump was cut short by something outside the dump, so another run can succeed:
    a signal from outside (the OOM killer's SIGKILL; not SIGPIPE, which is ours: we stopped
    reading), or its server going away mid-dump (a restart, a failover, a dropped link)."""
    if returncode < 0:
        return returncode != -signal.SIGPIPE
    return _CONNECTION_LOST.search(stderr) is not None


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


def application_name(job_id: object) -> str:
    """`backup-worker:<first 8 characters of the job id>`, for pg_stat_activity."""
    return f"{APPLICATION_NAME}:{str(job_id)[:8]}"


def _failure(
    params: source.SourceParams, returncode: int, stderr: str, lock_wait_timeout: float | None
) -> str:
    for pattern in _LOCK_FAILURES:
        match = pattern.search(stderr)
        if match:
            within = f" within {lock_wait_timeout:g} s" if lock_wait_timeout is not None else ""
            return (
                f"pg_dump could not lock table {match.group(1)}{within}: another session holds "
                "an ACCESS EXCLUSIVE lock on it (ALTER TABLE, VACUUM FULL, a migration...); "
                "the dump gave up rather than wait, try again when that session ends "
                "(SOURCE_LOCK_WAIT_TIMEOUT sets the wait)"
            )
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
