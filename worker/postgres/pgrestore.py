"""pg_restore as a process fed through its stdin: into a database, as a listing, or as a check.

Argument lists only, never a shell; the password reaches pg_restore as PGPASSWORD through
SourceParams.env(), the connection string carries none. The exit status and stderr are checked
when the block ends.
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, cast

from worker import errors
from worker.postgres import source

STDERR_TAIL = 64 * 1024  # bytes of pg_restore's stderr kept for the error message
LISTING_MAX = 16 << 20  # bytes of `pg_restore --list` output kept
PIPE_SIZE = 1 << 20  # bytes; lets us run ahead of pg_restore by one chunk
_MISSING = "pg_restore was not found on PATH: install postgresql-client"
_ROLE_MISSING = re.compile(r'role "([^"]*)" does not exist')
_CONNECTION = ("could not connect", "connection to server", "password authentication failed")


@dataclass
class Process:
    """A running pg_restore: write the archive into `stdin`; `listing` is its stdout."""

    stdin: BinaryIO
    listing: str = ""


def into_database(
    params: source.SourceParams,
    database: str,
    archive: str,
    jobs: int,
    *,
    role: str | None = None,
    privileges: bool = True,
    verbose: bool = True,
) -> list[str]:
    """Arguments restoring the seekable `archive` into `database` with `jobs` sessions.

    No --single-transaction: a restore goes into a database of its own (worker/restore/load.py),
    dropped when it fails, so it needs no more locks than the server's defaults allow.
    --no-owner: every object belongs to whoever creates it, `role` (the project's owner, which
    `params`' user, a job's restore role, may SET ROLE to) or else `params`' user itself; no
    privileges (`privileges` False): the archive's GRANTs are skipped (a drill's). `verbose`:
    a line on stderr per item, which says how far it is (worker/postgres/advance.py).
    """
    return [
        f"--dbname={params.conninfo(source.validate_database_name(database))}",
        "--no-password",
        "--exit-on-error",
        "--no-owner",
        *([f"--role={role}"] if role is not None else []),
        *([] if privileges else ["--no-privileges"]),
        *(["--verbose"] if verbose else []),
        f"--jobs={max(jobs, 1)}",
        archive,
    ]


LIST = ["--list"]  # the archive's table of contents, on stdout
# With --create, the listing shows the DATABASE entry, whose owner is the database's at dump time.
_DATABASE_ENTRY = re.compile(r"^\d+; \d+ \d+ DATABASE - \S+ (.+)$", re.MULTILINE)
READ_ALL = ["--file=/dev/null"]  # the whole archive turned into SQL and thrown away


@contextlib.contextmanager
def running(
    params: source.SourceParams,
    args: Sequence[str],
    *,
    program: str | None = None,
    on_line: Callable[[str], bool] | None = None,
) -> Iterator[Process]:
    """Run pg_restore with `args` reading the archive from stdin; RestoreError if it fails.

    `on_line` gets each line of its stderr as it comes, and says whether it was chatter (as
    --verbose prints), which the error message then leaves out.

    If the block raises because pg_restore stopped reading (BrokenPipeError), pg_restore's own
    outcome decides: its error if it failed, nothing if it had all it needed (as `--list` does).
    Any other exception kills pg_restore and propagates unchanged. `program` is the pg_restore
    to run (clients.for_server), PATH's by default.
    """
    environment = params.env()
    environment.pop("LC_ALL", None)
    environment["LC_MESSAGES"] = "C"  # English messages, which describe() recognises
    try:
        proc = subprocess.Popen(
            [program or _path(), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
        )
    except OSError as exc:
        raise errors.RestoreError(f"cannot start pg_restore: {exc.strerror}") from None
    assert proc.stdin is not None
    assert proc.stdout is not None
    assert proc.stderr is not None
    with contextlib.suppress(OSError):
        fcntl.fcntl(proc.stdin.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    process = Process(cast(BinaryIO, proc.stdin))
    stderr = _Drain(proc.stderr.fileno(), STDERR_TAIL, keep_tail=True, on_line=on_line)
    stdout = _Drain(proc.stdout.fileno(), LISTING_MAX, keep_tail=False)
    stderr.start()
    stdout.start()
    try:
        yield process
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
    except BrokenPipeError:
        pass  # pg_restore stopped reading: its exit status below says why
    except BaseException:
        if proc.poll() is None:
            proc.kill()
        _reap(proc, stderr, stdout)
        raise
    returncode = _reap(proc, stderr, stdout)
    process.listing = stdout.text()
    if returncode != 0:
        raise errors.RestoreError(_failure(params, returncode, stderr.text()))


def database_owner(
    params: source.SourceParams, archive: str, *, program: str | None = None
) -> str | None:
    """The role that owned the dumped database, from the archive's DATABASE entry (None if
    it has none); RestoreError if pg_restore cannot read the archive."""
    with running(params, [*LIST, "--create", archive], program=program) as listing:
        pass
    match = _DATABASE_ENTRY.search(listing.listing)
    return (match.group(1).strip() or None) if match else None


def describe(params: source.SourceParams, text: str) -> str:
    """An operator-facing message from pg_restore's stderr, without the password."""
    text = params.redact(text)
    if any(marker in text for marker in _CONNECTION):
        return source.describe_libpq_error(params, text)
    lines = [line.strip().removeprefix("pg_restore: ") for line in text.splitlines()]
    important = [line for line in lines if line.startswith(("error:", "detail:", "hint:"))]
    detail = " ".join((important or [line for line in lines if line])[-4:]).removeprefix("error: ")
    detail = detail[:1000] or "no error message"
    needs = _needs_superuser(text)
    if needs:
        return (
            f"{needs} needs superuser rights to restore; the worker restores with the owner's "
            f"rights only ({detail})"
        )
    role = _ROLE_MISSING.search(text)
    if role:
        detail += (
            f' (the backup\'s objects belong to role "{role.group(1)}", which this server does '
            "not have: create the role first)"
        )
    return detail


# What pg_restore said when the owner's rights were not enough: what needed more, in words.
_SUPERUSER_ONLY: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"permission denied for language (\S+)"), "a function in language {0}"),
    (re.compile(r'permission denied to create extension "([^"]+)"'), "extension {0}"),
    (re.compile(r'permission denied to create event trigger "([^"]+)"'), "event trigger {0}"),
    (re.compile(r"must be superuser to (.+?)(?:\.|$)", re.MULTILINE), "an object (to {0})"),
    (re.compile(r"must be owner of (\w+ \S+)"), "the backup's {0}, owned by another role,"),
)


def _needs_superuser(text: str) -> str | None:
    for pattern, template in _SUPERUSER_ONLY:
        match = pattern.search(text)
        if match:
            return template.format(*match.groups())
    return None


def _failure(params: source.SourceParams, returncode: int, stderr: str) -> str:
    described = describe(params, stderr) if stderr.strip() else ""
    if returncode > 0:
        return f"pg_restore failed: {described or f'exit status {returncode}'}"
    try:
        how = f"was killed by {signal.Signals(-returncode).name}"
    except ValueError:
        how = f"was killed by signal {-returncode}"
    return f"pg_restore {how}" + (f": {described}" if described else "")


def _path() -> str:
    path = shutil.which("pg_restore")
    if path is None:
        raise errors.RestoreError(_MISSING)
    return path


def _reap(proc: subprocess.Popen[bytes], stderr: _Drain, stdout: _Drain) -> int:
    assert proc.stdin is not None
    with contextlib.suppress(OSError):
        proc.stdin.close()
    returncode = proc.wait()
    stderr.join()
    stdout.join()
    for stream in (proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    return returncode


class _Drain(threading.Thread):
    """Reads a pipe to its end so pg_restore never blocks on it, keeping at most `limit` bytes."""

    def __init__(
        self,
        fd: int,
        limit: int,
        *,
        keep_tail: bool,
        on_line: Callable[[str], bool] | None = None,
    ) -> None:
        super().__init__(name="pg_restore-output", daemon=True)
        self._fd = fd
        self._limit = limit
        self._keep_tail = keep_tail
        self._on_line = on_line
        self._partial = b""  # a line not ended yet, for on_line
        self._data = bytearray()
        self._trimmed = False

    def run(self) -> None:
        with contextlib.suppress(OSError):
            while chunk := os.read(self._fd, 1 << 16):
                if self._on_line is not None:
                    chunk = self._lines(chunk)
                if self._keep_tail:
                    self._data += chunk
                    if len(self._data) > self._limit:
                        del self._data[: -self._limit]
                        self._trimmed = True
                elif len(self._data) < self._limit:
                    self._data += chunk[: self._limit - len(self._data)]

    def _lines(self, chunk: bytes) -> bytes:
        """The lines of `chunk` that `on_line` did not call chatter (ended lines only)."""
        assert self._on_line is not None
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        kept = [line for line in lines if not self._on_line(line.decode("utf-8", "replace"))]
        return b"".join(line + b"\n" for line in kept)

    def text(self) -> str:
        """What was kept, without a line cut in half by the trimming."""
        text = (self._data + self._partial).decode("utf-8", "replace")
        return text.partition("\n")[2] if self._trimmed else text
