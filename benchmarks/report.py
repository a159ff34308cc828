"""Printing benchmark results: plain tables for people, one JSON document for tools."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

WIDTH = 180  # columns when the output is not a terminal (a log file, `| tee`)
_console = Console(highlight=False, width=None if sys.stdout.isatty() else WIDTH)


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print one table; the first column is left-aligned, the others right-aligned."""
    shown = Table(title=title, title_justify="left")
    for position, column in enumerate(columns):
        shown.add_column(column, justify="left" if position == 0 else "right")
    for row in rows:
        shown.add_row(*(_cell(value) for value in row))
    _console.print(shown)


def line(text: str) -> None:
    """Print a line of text."""
    _console.print(text)


def emit(document: dict[str, object], path: Path | None) -> None:
    """Print the JSON document (and write it to `path` when given)."""
    text = json.dumps(document, indent=2, sort_keys=False, default=str)
    _console.print("JSON:")
    print(text)  # plain, so that tools can parse it
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")


def environment() -> dict[str, object]:
    """Where and when the figures were taken: date, host, `uname -m`, cores, load average."""
    return {
        "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpus": _cpus(),
        "load_average": load_average(),
    }


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (empty where /proc/loadavg is missing)."""
    path = Path("/proc/loadavg")
    return [float(value) for value in path.read_text().split()[:3]] if path.exists() else []


def describe(env: dict[str, object]) -> str:
    """One line for the top of a report: date, host, machine, cores, load."""
    return (
        f"{env.get('taken_at')}  {env.get('host')}  {env.get('machine')}, {env.get('cpus')} "
        f"cores, Python {env.get('python')}, load average {env.get('load_average')}"
    )


def per_round(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """numerator / denominator round by round: each pair was measured back to back, so a load
    spike on a shared machine weighs on both sides of the ratio it lands in."""
    return [ratio(n, d) for n, d in zip(numerators, denominators, strict=True)]


def spread(values: Sequence[float]) -> dict[str, float]:
    """{median, min, max} of `values`, rounded to 4 decimals."""
    if not values:
        return {"median": 0.0, "min": 0.0, "max": 0.0}
    return {
        "median": round(median(values), 4),
        "min": round(min(values), 4),
        "max": round(max(values), 4),
    }


def shown(figures: dict[str, float], digits: int = 2) -> str:
    """A spread as `median (min-max)`."""
    return (
        f"{figures['median']:.{digits}f} ({figures['min']:.{digits}f}-{figures['max']:.{digits}f})"
    )


def median(values: Sequence[float]) -> float:
    """The median (the value itself for one run)."""
    return statistics.median(values) if values else 0.0


def mb(nbytes: float) -> str:
    """Bytes as MB (10**6), one decimal."""
    return f"{nbytes / 1e6:.1f} MB"


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, 0 when the denominator is 0."""
    return numerator / denominator if denominator else 0.0


def verdict(value: float, limit: float, *, at_most: bool = True) -> str:
    """'ok' or 'MISSED' against a target."""
    met = value <= limit if at_most else value >= limit
    return "ok" if met else "MISSED"


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def _cpus() -> int:
    return os.cpu_count() or 0
