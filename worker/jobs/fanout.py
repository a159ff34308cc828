"""Which databases of a server a whole-server backup takes, and whose project each one is.

The one rule of `backup --server S --all` and of a schedule whose database is `*`: every
database the server lists that a backup can take (no template, none with datallowconn = false),
minus the worker's own control-plane database when it lives on that server, minus those matching
an exclude pattern (shell-style, fnmatch). Nothing else leaves one out: whatever its legal
name, a database is queued, and one that cannot be backed up is a failed job naming it. The
project id is SOURCE_PROJECT_PATTERN's named group `project` when it matches, else the
database name, or a safe form of it with a hash (request.project_id_for_database).
"""

from __future__ import annotations

import contextlib
import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import make_url

from worker import errors
from worker.contract import request
from worker.jobs.runtime import Runtime
from worker.postgres import servers, source

MAX_PATTERNS = 100  # exclude patterns of one schedule
MAX_PATTERN_CHARS = 200
_LOCAL = frozenset({"", "localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class Item:
    """One database of the server: queued (with its job), or skipped (with the reason)."""

    database: str
    project_id: str | None = None
    job_id: str | None = None
    skipped: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "database": self.database,
            "project_id": self.project_id,
            "job_id": self.job_id,
            "status": "queued" if self.job_id else "skipped",
            "reason": self.skipped,
        }


def validate_patterns(patterns: object) -> list[str]:
    """Exclude patterns as given (a list of non-empty strings); InputError otherwise."""
    if patterns is None:
        return []
    if not isinstance(patterns, (list, tuple)) or len(patterns) > MAX_PATTERNS:
        raise errors.InputError(f"exclude must be a list of at most {MAX_PATTERNS} patterns")
    for pattern in patterns:
        if not isinstance(pattern, str) or not 1 <= len(pattern) <= MAX_PATTERN_CHARS:
            raise errors.InputError(
                f"exclude patterns are strings of 1 to {MAX_PATTERN_CHARS} characters"
            )
    return list(patterns)


def project_of(database: str, pattern: str | None) -> str:
    """The project a database belongs to: SOURCE_PROJECT_PATTERN's group `project` when it
    matches, else one made of the name (request.project_id_for_database): a database the
    pattern does not describe is still backed up, never left out."""
    match = re.fullmatch(pattern, database) if pattern is not None else None
    if match is not None and match.group("project"):
        with contextlib.suppress(errors.InputError):
            return request.validate_project_id(match.group("project"))
    return request.project_id_for_database(database)


def same_server(database_url: str, params: source.SourceParams) -> bool:
    """Whether the control-plane database (SQLAlchemy URL) is on the server of `params`."""
    url = make_url(database_url)

    def where(host: str | None, port: object) -> tuple[str, str]:
        text = host or ""
        return ("local" if text in _LOCAL or text.startswith("/") else text, str(port or 5432))

    return where(url.host, url.port) == where(params.get("host"), params.get("port"))


def plan(rt: Runtime, server: servers.Server, exclude: Sequence[str] = ()) -> list[Item]:
    """The server's databases, each with its project, or why it is left out; DumpError when
    the server cannot be listed."""
    params = server.params()
    control = make_url(rt.settings.database_url).database
    own_server = same_server(rt.settings.database_url, params)
    pattern = rt.settings.source_project_pattern
    items: list[Item] = []
    for name in source.list_databases(params):
        if own_server and name == control:
            items.append(Item(name, skipped="the worker's control-plane database"))
            continue
        excluded = next((p for p in exclude if fnmatch.fnmatchcase(name, p)), None)
        if excluded is not None:
            items.append(Item(name, skipped=f"excluded by {excluded!r}"))
            continue
        # A name the server holds is a legal one (source.validate_database_name): whatever
        # goes wrong with it later fails its job, which names it, instead of leaving it out.
        items.append(Item(name, project_of(name, pattern)))
    return items
