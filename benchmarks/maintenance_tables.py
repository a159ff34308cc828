"""The tables of benchmarks.maintenance, and its JSON document."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmarks import report

if TYPE_CHECKING:
    from benchmarks.maintenance import Timing


def show(
    rows: int, due: int, fill_seconds: float, timings: list[Timing], target: float
) -> dict[str, object]:
    """Print the timings, the targets and the plans that use no index; return the JSON."""
    report.table(
        f"{rows:,} backups rows, {due:,} due for expiry (filled in {fill_seconds:.1f} s)",
        ["operation", "median s", "max s", "rows", "target s", "verdict", "scans without index"],
        [
            [
                t.name,
                report.median(t.seconds),
                max(t.seconds),
                t.rows,
                target,
                report.verdict(report.median(t.seconds), target),
                "; ".join(item for plan in t.plans for item in plan.unindexed) or "-",
            ]
            for t in timings
        ],
    )
    for timing in timings:
        statements = ", ".join(f"{plan.milliseconds:.0f}" for plan in timing.plans)
        report.line(f"{timing.name}: EXPLAIN ANALYZE ms per statement: {statements}")
    for timing in timings:
        for plan in timing.plans:
            if plan.unindexed:
                report.line(f"\n{timing.name}: {plan.sql[:300]}")
                report.line(plan.text)
    return {
        "benchmark": "maintenance",
        "environment": report.environment(),
        "rows": rows,
        "due": due,
        "fill_seconds": round(fill_seconds, 2),
        "target_seconds": target,
        "operations": [t.to_json() for t in timings],
        "verdicts": [
            {
                "what": t.name,
                "measured": round(report.median(t.seconds), 4),
                "target": target,
                "verdict": report.verdict(report.median(t.seconds), target),
            }
            for t in timings
        ],
    }
