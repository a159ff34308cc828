"""The right pg_dump/pg_restore for each server: a major version at least the server's (and, for
pg_restore, at least that of the pg_dump that wrote the archive: an older pg_restore cannot read
a newer archive).

pg_dump refuses a server newer than itself ("aborting because of server version mismatch"), and a
newer pg_dump than needed is no better, so the lowest qualifying one is taken: it is the one
whose output the widest range of pg_restore versions reads. Debian and Ubuntu install each
major side by side in /usr/lib/postgresql/N/bin; elsewhere PATH's programs are used when their
version qualifies.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from worker import errors
from worker.postgres import source

PG_LIB = Path("/usr/lib/postgresql")  # Debian/Ubuntu: one N/bin per installed major
VERSION_TIMEOUT = 30  # seconds for `pg_dump --version`
TOOLS = ("pg_dump", "pg_restore")
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")

Version = tuple[int, ...]  # (15,) from PostgreSQL 10 on, (9, 6) before


@dataclass(frozen=True)
class Client:
    """One installed program and its version."""

    tool: str
    path: str
    version: str  # as printed, e.g. "15.4"
    major: Version

    @property
    def major_text(self) -> str:
        return ".".join(map(str, self.major))


def server_major(version_num: int) -> Version:
    """The major version of a `server_version_num`: 150004 → (15,), 90624 → (9, 6)."""
    if version_num >= 100000:
        return (version_num // 10000,)
    return (version_num // 10000, version_num // 100 % 100)


def version_major(version: str) -> Version:
    """The major version of a program's version as printed: "16.2" → (16,), "9.6.24" → (9, 6)."""
    numbers = [int(piece) for piece in re.findall(r"\d+", version)[:2]] or [0]
    return tuple(numbers) if numbers[0] < 10 else (numbers[0],)


def for_server(
    tool: str, params: source.SourceParams, *, root: Path = PG_LIB, archive: str | None = None
) -> Client:
    """The `tool` (pg_dump or pg_restore) to use against the server of `params`; `archive`:
    the version of the pg_dump that wrote the archive pg_restore will read, when known."""
    return choose(tool, source.server_version_num(params), root=root, archive=archive)


def choose(
    tool: str,
    version_num: int,
    *,
    root: Path = PG_LIB,
    fallback: str | None = None,
    archive: str | None = None,
) -> Client:
    """The lowest installed `tool` whose major is at least the server's and the archive's
    pg_dump's (`archive`, e.g. "16.2"); an error naming the versions.

    `version_num` 0: no server to match (reading an archive only). `fallback` is PATH's
    program (looked up when None); it is used when nothing under `root` qualifies and its own
    version does.
    """
    if tool not in TOOLS:
        raise ValueError(f"unknown tool {tool!r}")
    server = server_major(version_num)
    dumped = version_major(archive) if archive else (0,)
    wanted = max(server, dumped)
    found = installed(tool, root)
    path_tool = fallback if fallback is not None else shutil.which(tool)
    if path_tool is not None:
        client = _describe(tool, path_tool)
        if client is not None:
            found.append(client)
    fitting = [client for client in found if client.major >= wanted]
    if fitting:
        # min() keeps the first of equals: an N/bin program beats PATH's of the same major.
        return min(fitting, key=lambda client: client.major)
    error = errors.DumpError if tool == "pg_dump" else errors.RestoreError
    shown = ".".join(map(str, wanted))
    package = f"postgresql-client-{shown}"
    if not found:
        needs = f"the server runs PostgreSQL {'.'.join(map(str, server))}"
        if dumped > server:
            needs = f"the archive was written by pg_dump {archive}"
        raise error(
            f"{tool} was not found (in {root}/N/bin or on PATH): {needs}; install {package} or "
            "newer"
        )
    newest = max(found, key=lambda client: client.major)
    than = []
    if newest.major < server:
        than.append(f"the server (PostgreSQL {'.'.join(map(str, server))})")
    if newest.major < dumped:
        than.append(f"the pg_dump that wrote the archive ({archive})")
    raise error(
        f"{tool} {newest.version} ({newest.path}) is older than {' and '.join(than)} and no "
        f"newer {tool} is installed: install {package} or newer"
    )


def installed(tool: str, root: Path = PG_LIB) -> list[Client]:
    """Every `root`/N/bin/`tool` that runs and tells its version, lowest major first."""
    found: list[Client] = []
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return found
    for entry in entries:
        program = entry / "bin" / tool
        if not program.is_file():
            continue
        client = _describe(tool, str(program))
        if client is not None:
            found.append(client)
    return sorted(found, key=lambda client: client.major)


def _describe(tool: str, path: str) -> Client | None:
    printed = _version_output(path)
    match = _VERSION.search(printed) if printed is not None else None
    if match is None:
        return None
    major = int(match.group(1))
    minor = int(match.group(2) or 0)
    version = match.group(1) + (f".{match.group(2)}" if match.group(2) else "")
    return Client(tool, path, version, (major, minor) if major < 10 else (major,))


@functools.cache
def _version_output(path: str) -> str | None:
    # Cached per path: the worker asks once per job, installed clients change with a deploy.
    try:
        done = subprocess.run(
            [path, "--version"],
            capture_output=True,
            text=True,
            timeout=VERSION_TIMEOUT,
            check=True,
            env=source.program_env(),
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout
