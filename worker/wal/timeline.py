"""Timelines: a promoted replica goes on from its parent's WAL at a switch position.

The server's history file of timeline T (`0000000T.history`) lists, one line per ancestor,
`parent-timeline<TAB>switch-LSN<TAB>reason`; timeline k's own file is the lines of its
ancestors (PostgreSQL copies the parent's file and adds a line). The streamer fetches T's file
over the replication protocol (TIMELINE_HISTORY) when the newest recorded WAL is on an older
timeline, cuts the older timeline's bundles at its switch, records each newer timeline's file
(in the control plane for planning, in Telegram for a restore by hand), and goes on.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import psycopg2
import psycopg2.extras

from db import wal_models
from worker import errors
from worker.wal import lsn, store


@dataclass(frozen=True)
class Switch:
    """Timeline `parent` ends at `position`; `child` starts there."""

    parent: int
    child: int
    position: int


def parse(content: str, timeline: int) -> list[Switch]:
    """The switches of timeline `timeline`'s history file, oldest first."""
    lines = []
    for line in content.splitlines():
        fields = line.split("\t") if "\t" in line else line.split()
        if not line.strip() or line.lstrip().startswith("#") or len(fields) < 2:
            continue
        try:
            lines.append((int(fields[0]), lsn.parse(fields[1])))
        except (ValueError, errors.InputError):
            raise errors.WalError(
                f"the history file of timeline {timeline} has a line that is not "
                f"'timeline<TAB>position': {line[:80]!r}"
            ) from None
    children = [parent for parent, _ in lines[1:]] + [timeline]
    return [Switch(p, c, at) for (p, at), c in zip(lines, children, strict=True)]


def content_of(content: str, timeline: int) -> str:
    """Timeline `timeline`'s own history file, cut from a newer timeline's."""
    kept = []
    for line in content.splitlines(keepends=True):
        fields = line.split()
        if fields and fields[0].isdigit() and int(fields[0]) < timeline:
            kept.append(line)
    return "".join(kept)


def file_name(timeline: int) -> str:
    return f"{timeline:08X}.history"


def fetch(conninfo: str, password: str | None, timeline: int) -> str:
    """The server's history file of `timeline`, over a replication connection."""
    try:
        factory = psycopg2.extras.PhysicalReplicationConnection
        connection = (
            psycopg2.connect(conninfo, connection_factory=factory, password=password)
            if password
            else psycopg2.connect(conninfo, connection_factory=factory)
        )
    except psycopg2.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "refused"
        raise errors.WalError(f"cannot open a replication connection: {first}") from None
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"TIMELINE_HISTORY {int(timeline)}")
            row = cursor.fetchone()
    except psycopg2.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "failed"
        raise errors.WalError(f"TIMELINE_HISTORY {timeline}: {first}") from None
    finally:
        connection.close()
    if row is None:
        raise errors.WalError(f"the server sent no history file for timeline {timeline}")
    content = row[1]
    return bytes(content).decode() if isinstance(content, bytes | memoryview) else str(content)


def record(
    server: str,
    system_identifier: str,
    switch: Switch,
    content: str,
    target: store.Store,
) -> wal_models.WalHistory:
    """Send timeline `switch.child`'s history file; the row to record (not yet recorded)."""
    name = f"wal_{server}_{file_name(switch.child)}"
    stored = target.put(io.BytesIO(content.encode()), name)
    return wal_models.WalHistory(
        server=server,
        system_identifier=system_identifier,
        timeline=switch.child,
        parent_timeline=switch.parent,
        switch_lsn=switch.position,
        content=content,
        size_bytes=stored.size_bytes,
        sha256=stored.sha256,
        compression=stored.compression,
        encrypted=stored.encrypted,
        parts=stored.parts,
    )
