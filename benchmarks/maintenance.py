"""Set-based maintenance at 1,000,000 backups rows: stats, list pages, the expiry sweep.

    python -m benchmarks.maintenance                  # 1,000,000 rows, 10,000 of them due
    python -m benchmarks.maintenance --rows 100000    # quick

A scratch control-plane database (migrated, dropped afterwards) is filled with one
INSERT ... SELECT generate_series: 2,000 projects, statuses 70% active / 25% expired / 5% deleted,
and exactly `--due` active rows past their expiry. Each operation runs `--repeat` times through
the project's own functions (db.queries.backups, db.queries.expiry); the expiry runs are rolled
back, so every
run expires the same rows, and a last one is committed. The SQL each operation sent is then
EXPLAINed (ANALYZE, rolled back) and every scan that used no index is reported.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from benchmarks import maintenance_tables, plans, report
from db import session as db_session
from db.queries import backups as db_backups
from db.queries import expiry as db_expiry
from db.queries import stats as db_stats
from tests.support import scratch

TARGET_SECONDS = 1.0
PROJECTS = 2000
PAGE = 50
_FILL = """
INSERT INTO control_plane.backups
    (project_id, type, database, filename, size_bytes, sha256, compression, chat_id,
     part_count, status, created_at, expires_at)
SELECT 'proj-' || (g % :projects), 'database', 'app', 'proj_app_' || g || '.pgdump.zst',
       1000 + (g::bigint * 7919) % 500000000, md5(g::text) || md5((g + 1)::text), 'zstd',
       '-1001234567890', 1 + g % 3,
       CASE WHEN g > :rows - :due OR g % 100 < 70 THEN 'active'
            WHEN g % 100 < 95 THEN 'expired' ELSE 'deleted' END,
       now() - g * interval '1 minute',
       CASE WHEN g > :rows - :due THEN now() - interval '1 hour' - g * interval '1 second'
            WHEN g % 100 < 70 THEN now() + (1 + g % 60) * interval '1 day'
            ELSE now() - (g % 300) * interval '1 day' END
FROM generate_series(1, :rows) AS g
"""
# Schemas tried after the main timings, each followed by VACUUM ANALYZE, then stats again:
# migration 0003's covering index swapped back for 0002's plain one, to show what it buys.
WHAT_IF = (
    (
        "the (status, type) index of 0002 instead of 0003's covering one",
        "CREATE INDEX ix_backups_status_type ON control_plane.backups (status, type);"
        " DROP INDEX control_plane.ix_backups_status_type_size",
    ),
)

Operation = Callable[[Session], int]


@dataclass(frozen=True)
class Timing:
    """Runs of one operation."""

    name: str
    seconds: list[float]
    rows: int
    plans: list[plans.Plan]

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {
            "name": self.name,
            "median_seconds": round(report.median(self.seconds), 4),
            "max_seconds": round(max(self.seconds), 4),
            "runs": [round(value, 4) for value in self.seconds],
            "rows": self.rows,
            "plans": [plan.to_json() for plan in self.plans],
        }


def fill(database: db_session.Database, rows: int, due: int) -> float:
    """Insert the rows, then VACUUM ANALYZE as autovacuum would; returns seconds."""
    started = time.perf_counter()
    with database.engine.begin() as conn:
        conn.execute(text(_FILL), {"rows": rows, "due": due, "projects": PROJECTS})
    with database.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            "VACUUM ANALYZE control_plane.backups"
        )
    return time.perf_counter() - started


def measure(
    database: db_session.Database, name: str, operation: Operation, repeat: int, *, keep: bool
) -> Timing:
    """EXPLAIN what `operation` sends (rolled back), then run it `repeat` times, each in a
    transaction rolled back (the last one committed when `keep`)."""
    with database.sessionmaker() as session, plans.capture(database.engine) as sent:
        operation(session)
        session.rollback()
    explained = plans.explain(database.engine, sent)
    seconds: list[float] = []
    count = 0
    for number in range(repeat):
        with database.sessionmaker() as session:
            started = time.perf_counter()
            count = operation(session)
            if keep and number == repeat - 1:
                session.commit()
            seconds.append(time.perf_counter() - started)
            session.rollback()
    return Timing(name, seconds, count, explained)


def operations(deep_offset: int, cursor: uuid.UUID | None) -> list[tuple[str, Operation, bool]]:
    """(name, operation returning a row count, committed at the end)."""
    return [
        ("stats", lambda s: db_stats.stats(s).total, False),
        ("list: first page", lambda s: len(db_backups.list_backups(s, limit=PAGE)), False),
        (
            f"list: page at offset {deep_offset:,}",
            lambda s: len(db_backups.list_backups(s, limit=PAGE, offset=deep_offset)),
            False,
        ),
        (
            f"list: page after row {deep_offset:,} (before=its id)",
            lambda s: len(db_backups.list_backups(s, limit=PAGE, before=cursor)),
            False,
        ),
        (
            "list: one project, 2nd page",
            lambda s: len(db_backups.list_backups(s, project_id="proj-7", limit=PAGE, offset=PAGE)),
            False,
        ),
        (
            "list: active only, first page",
            lambda s: len(db_backups.list_backups(s, status="active", limit=PAGE)),
            False,
        ),
        ("db.queries.backups.mark_expired", lambda s: len(db_backups.mark_expired(s)), False),
        ("db.queries.expiry.expire_due (the sweep)", lambda s: len(db_expiry.expire_due(s)), True),
    ]


def what_if(database: db_session.Database, repeat: int) -> list[Timing]:
    """Stats again after each WHAT_IF change of the indexes."""
    found = []
    for name, ddl in WHAT_IF:
        report.line(f"timing stats with {name}")
        with database.engine.connect() as conn:
            auto = conn.execution_options(isolation_level="AUTOCOMMIT")
            auto.exec_driver_sql(ddl)
            auto.exec_driver_sql("VACUUM ANALYZE control_plane.backups")
        stats = operations(0, None)[0][1]
        found.append(measure(database, f"stats with {name}", stats, repeat, keep=False))
    return found


def cursor_at(database: db_session.Database, offset: int) -> uuid.UUID | None:
    """Id of the row just before `offset`: what a client paging with `before` holds."""
    if offset == 0:
        return None
    with database.engine.connect() as conn:
        found: uuid.UUID = conn.execute(
            text(
                "SELECT id FROM control_plane.backups"
                " ORDER BY created_at DESC, id DESC OFFSET :offset LIMIT 1"
            ),
            {"offset": offset - 1},
        ).scalar_one()
    return found


def main(argv: list[str] | None = None) -> int:
    """The command line."""
    run(argv)
    return 0


def run(argv: list[str] | None = None) -> dict[str, object]:
    """Fill, time, explain, print; return the JSON document."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.maintenance",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=10_000, help="active rows past their expiry")
    parser.add_argument("--deep-offset", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--no-what-if",
        dest="what_if",
        action="store_false",
        help="skip timing stats again with 0002's index",
    )
    parser.add_argument("--json-out", type=Path, help="also write the JSON document here")
    args = parser.parse_args(argv)
    deep = min(args.deep_offset, max(args.rows - PAGE, 0))
    with scratch.database("bwbench_control_", migrated=True) as url:
        database = db_session.Database(url)
        try:
            report.line(f"filling {args.rows:,} backups rows ({args.due:,} due)")
            filled = fill(database, args.rows, args.due)
            timings = []
            for name, operation, keep in operations(deep, cursor_at(database, deep)):
                report.line(f"timing {name}")
                timings.append(measure(database, name, operation, args.repeat, keep=keep))
            if args.what_if:
                timings += what_if(database, args.repeat)
        finally:
            database.dispose()
    document = maintenance_tables.show(args.rows, args.due, filled, timings, TARGET_SECONDS)
    report.emit(document, args.json_out)
    return document


if __name__ == "__main__":
    sys.exit(main())
