"""Whole-server backups: one backup job per database of a source server.

Which databases: every one the server lists that a backup can take (no template, none with
datallowconn = false), minus the worker's own control-plane database when it lives on that
server, minus those matching an --exclude pattern (shell-style, fnmatch). Whose: the database
name is the project id, or SOURCE_PROJECT_PATTERN's named group `project` when it is set (a
database it does not match is skipped, and said so).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import make_url

from worker import errors
from worker.contract import publish, request
from worker.jobs import intake
from worker.jobs.runtime import Runtime
from worker.postgres import servers, source

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


def project_of(database: str, pattern: str | None) -> str:
    """The project a database belongs to; InputError when the pattern does not say."""
    if pattern is None:
        return request.validate_project_id(database)
    match = re.fullmatch(pattern, database)
    if match is None or not match.group("project"):
        raise errors.InputError(f"SOURCE_PROJECT_PATTERN does not match database {database}")
    return request.validate_project_id(match.group("project"))


def same_server(database_url: str, params: source.SourceParams) -> bool:
    """Whether the control-plane database (SQLAlchemy URL) is on the server of `params`."""
    url = make_url(database_url)

    def where(host: str | None, port: object) -> tuple[str, str]:
        text = host or ""
        return ("local" if text in _LOCAL or text.startswith("/") else text, str(port or 5432))

    return where(url.host, url.port) == where(params.get("host"), params.get("port"))


def plan(rt: Runtime, server: servers.Server, exclude: Sequence[str] = ()) -> list[Item]:
    """The server's databases, each with its project, or why it is left out."""
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
        try:
            source.validate_database_name(name)
            items.append(Item(name, project_of(name, pattern)))
        except errors.InputError as exc:
            items.append(Item(name, skipped=exc.message))
    return items


def enqueue_server(
    rt: Runtime,
    server_name: str,
    publisher: publish.Publisher,
    *,
    exclude: Sequence[str] = (),
    expires_in_days: int | None = None,
    caption: str | None = None,
) -> list[Item]:
    """One pending job and backups.create per database of the server; the report."""
    server = rt.registry().get(server_name)
    report: list[Item] = []
    for item in plan(rt, server, exclude):
        if item.project_id is None:
            report.append(item)
            continue
        req = request.validate(
            item.project_id, item.database, expires_in_days, caption, server=server.name
        )
        job_id = intake.enqueue(rt, req, publisher)
        report.append(Item(item.database, item.project_id, str(job_id)))
    return report
