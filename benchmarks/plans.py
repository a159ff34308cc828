"""The SQL a function runs, and PostgreSQL's plan for each statement: which scans use no index.

with plans.capture(engine) as statements:
    db.queries.stats.stats(session)
for found in plans.explain(engine, statements):
    ...
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import Engine, event

# Plan nodes that read a table without an index. A Sort of many rows is listed too: it means
# no index gave the order.
_NO_INDEX = ("Seq Scan", "Parallel Seq Scan")
_SORT_ROWS = 100_000


@dataclass(frozen=True)
class Statement:
    """One statement as sent to the server, parameters bound."""

    sql: str


@dataclass(frozen=True)
class Plan:
    """EXPLAIN ANALYZE of one statement, and what in it did not use an index."""

    sql: str
    milliseconds: float
    unindexed: list[str]  # e.g. "Seq Scan on backups (1000000 rows)"
    text: str

    def to_json(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {
            "sql": self.sql,
            "execution_ms": round(self.milliseconds, 2),
            "unindexed": self.unindexed,
            "plan": self.text,
        }


@contextlib.contextmanager
def capture(engine: Engine) -> Iterator[list[Statement]]:
    """Collect every statement the engine runs inside the block, with literal parameters."""
    found: list[Statement] = []

    def before(
        conn: object,
        cursor: object,
        statement: str,
        parameters: object,
        context: object,
        executemany: bool,
    ) -> None:
        mogrify = getattr(cursor, "mogrify", None)
        sql = statement
        if mogrify is not None and not executemany:
            sql = mogrify(statement, parameters).decode()
        found.append(Statement(sql))

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", before)


def explain(engine: Engine, statements: list[Statement]) -> list[Plan]:
    """EXPLAIN (ANALYZE, BUFFERS) each statement in a transaction that is rolled back."""
    plans = []
    for statement in statements:
        if statement.sql.lstrip().upper().startswith(("SELECT 1", "BEGIN", "COMMIT")):
            continue
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            # Rolled back after each: an UPDATE explained twice in one transaction would find
            # its rows already changed the second time.
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement.sql)
            row = cursor.fetchone()
            raw.rollback()
            document = row[0] if row is not None else []
            if isinstance(document, str):
                document = json.loads(document)
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) " + statement.sql)
            text = "\n".join(str(line[0]) for line in cursor.fetchall())
            raw.rollback()
        finally:
            raw.close()
        top = document[0]
        unindexed: list[str] = []
        _walk(top["Plan"], unindexed)
        plans.append(Plan(statement.sql, float(top.get("Execution Time", 0.0)), unindexed, text))
    return plans


def _walk(node: dict[str, object], found: list[str]) -> None:
    kind = str(node.get("Node Type"))
    rows = _rows(node)
    if kind in _NO_INDEX:
        found.append(f"{kind} on {node.get('Relation Name')} ({rows} rows)")
    children = node.get("Plans")
    if kind == "Sort" and isinstance(children, list) and children:
        # A top-N sort emits few rows: what it read is what its input produced.
        read = _rows(children[0]) if isinstance(children[0], dict) else 0
        if read >= _SORT_ROWS:
            found.append(f"Sort of {read} rows (no index gave the order)")
    if isinstance(children, list):
        for child in children:
            if isinstance(child, dict):
                _walk(child, found)


def _rows(node: dict[str, object]) -> int:
    # Rows per loop times loops: a parallel scan reports each worker's share.
    rows, loops = node.get("Actual Rows", node.get("Plan Rows", 0)), node.get("Actual Loops", 1)
    return int(rows) * int(loops) if isinstance(rows, int) and isinstance(loops, int) else 0
