"""A restore drill's checks: the extensions the backup needs exist on the drill server, and
every table holds as many rows as the dump's own snapshot counted (worker.postgres.snapshot).

A drill is a restore (worker/restore/load.py, mode `drill`) into a scratch database
`<db>__drill_<job8>`, which is dropped whatever happens; the verdict lands on the backup
(db.queries.drills.record). What is compared, and why, is in docs/drills.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

from db import models
from worker import errors
from worker.postgres import snapshot, source

ALWAYS_THERE = frozenset({"plpgsql"})  # in every database, on every server
REPORT_TABLES = 100  # mismatched tables kept in the backup's drill_report


class TableCheck(TypedDict):
    """One table: the rows the backup's snapshot counted, the rows the drill found."""

    table: str
    recorded: int | None  # None: not in the snapshot's counts
    restored: int | None  # None: not in the restored database
    ok: bool


class Report(TypedDict):
    """What one drill found (the job's result.drill; the backup's drill_report, trimmed)."""

    server: str
    database: str  # the scratch database
    counted: bool  # whether the backup recorded row counts to compare with
    tables: list[TableCheck]
    mismatches: int
    extensions: dict[str, list[str]]  # needed, missing
    error: str | None


def contents_of(backup: models.Backup) -> snapshot.Contents | None:
    """What the backup recorded of its snapshot; None for a backup that recorded nothing."""
    return snapshot.Contents.from_json(backup.contents)


def new_report(server: str, database: str, backup: models.Backup) -> Report:
    """The report before any check ran."""
    contents = contents_of(backup)
    return Report(
        server=server,
        database=database,
        counted=contents is not None and contents.tables is not None,
        tables=[],
        mismatches=0,
        extensions={"needed": needed(contents), "missing": []},
        error=None,
    )


def needed(contents: snapshot.Contents | None) -> list[str]:
    """The extensions a restore must be able to create."""
    return [] if contents is None else sorted(set(contents.extensions) - ALWAYS_THERE)


def check_extensions(params: source.SourceParams, report: Report) -> None:
    """DrillFailed naming each needed extension the drill server cannot create."""
    available = snapshot.available_extensions(params)
    missing = [name for name in report["extensions"]["needed"] if name not in available]
    report["extensions"]["missing"] = missing
    if missing:
        raise errors.DrillFailed(
            f"extension(s) {', '.join(missing)} needed by this backup are not available on "
            f"server {report['server']} (pg_available_extensions): install them there"
        )


def compare(recorded: Mapping[str, int] | None, restored: Mapping[str, int]) -> list[TableCheck]:
    """Each table of either side, with both counts; without recorded counts, none is wrong."""
    if recorded is None:
        return [
            TableCheck(table=name, recorded=None, restored=rows, ok=True)
            for name, rows in sorted(restored.items())
        ]
    return [
        TableCheck(
            table=name,
            recorded=recorded.get(name),
            restored=restored.get(name),
            ok=recorded.get(name) == restored.get(name),
        )
        for name in sorted(set(recorded) | set(restored))
    ]


def check_rows(params: source.SourceParams, backup: models.Backup, report: Report) -> None:
    """Count the scratch database's rows into the report; DrillFailed naming what differs."""
    contents = contents_of(backup)
    restored = snapshot.table_counts(params, report["database"])
    report["tables"] = compare(None if contents is None else contents.tables, restored)
    wrong = [check for check in report["tables"] if not check["ok"]]
    report["mismatches"] = len(wrong)
    if wrong:
        shown = "; ".join(
            f"{c['table']}: {_rows(c['restored'])} restored, {_rows(c['recorded'])} recorded"
            for c in wrong[:5]
        )
        more = f" and {len(wrong) - 5} more" if len(wrong) > 5 else ""
        raise errors.DrillFailed(
            f"{len(wrong)} table(s) differ from the backup's own snapshot: {shown}{more}"
        )


def trimmed(report: Report) -> models.JSONObject:
    """The report as kept on the backup: the mismatched tables only (at most REPORT_TABLES)."""
    wrong = [check for check in report["tables"] if not check["ok"]]
    return {
        **report,
        "tables": wrong[:REPORT_TABLES],
        "table_count": len(report["tables"]),
    }


def verdict(report: Mapping[str, object] | None, error: str | None) -> models.JSONObject:
    """The backup's drill_report of a drill that failed with `error`."""
    data: models.JSONObject = dict(report) if isinstance(report, Mapping) else {}
    if isinstance(data.get("tables"), list):
        tables = [t for t in data["tables"] if isinstance(t, Mapping) and not t.get("ok")]
        data["table_count"] = len(data["tables"])
        data["tables"] = tables[:REPORT_TABLES]
    data["error"] = error
    return data


def _rows(count: int | None) -> str:
    return "missing" if count is None else f"{count:,} rows"
