"""Issue 22's targets, measured as shipped, in one unattended run (make bench-ship).

    python -m benchmarks.ship                                    # everything (~35 min)
    python -m benchmarks.ship --size-mb 400 --link 100mbit       # one database, one profile
    python -m benchmarks.ship --no-restore --no-fleet            # backups only

Each part is a benchmark of its own, run over the stand-in's link (standin.link) with Telegram's
limits enforced, the worker and the scheduled worker from the Procfile, the pacer on at its
shipped defaults and a group chat: backup_speed (A, B, C and the floor; peak RSS) for every
database and profile, restore_speed for the first database on every profile, fleet on 1gbit. A
part that fails is reported as such and the others still run. The closing table gives every
target with its median (min-max), rounds and verdict; the JSON of every part is kept.
"""

from __future__ import annotations

import argparse
import functools
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks import backup_speed, fleet, report, restore_speed
from standin import link

DEFAULT_SIZES = (backup_speed.DEFAULT_SIZE_MB, backup_speed.LARGE_SIZE_MB)
A_OVER_FLOOR = 1.1
A_OVER_B = {"100mbit": 0.6, "1gbit": 0.35}
RESTORE_OVER_FLOOR = restore_speed.TARGET_A_OVER_FLOOR
PEAK_SPREAD = backup_speed.TARGET_PEAK_SPREAD
FLEET_SHARE = 0.95
FLEET_LINK = "1gbit"


@dataclass
class Row:
    """One target: what, where, the measured figure and whether it holds."""

    target: str
    where: str
    figure: str
    rounds: int | str
    limit: str
    verdict: str

    def cells(self) -> list[object]:
        return [self.target, self.where, self.figure, self.rounds, self.limit, self.verdict]

    def to_json(self) -> dict[str, object]:
        return dict(zip(COLUMNS, self.cells(), strict=True))


COLUMNS = ("target", "where", "median (min-max)", "rounds", "limit", "verdict")


def _spread(figures: object) -> tuple[float, str]:
    assert isinstance(figures, dict)
    return float(figures["median"]), report.shown(figures, 3)


def _at_most(value: float, limit: float) -> str:
    return report.verdict(value, limit)


def backup_rows(document: dict[str, object], profile: str) -> list[Row]:
    """A/floor, A/B and 429s of every database; peak RSS across databases."""
    rows: list[Row] = []
    results = document.get("results")
    assert isinstance(results, list)
    peaks: list[tuple[str, int]] = []
    for result in results:
        name = str(result["database"]["name"])
        where = f"{name}, {profile}"
        rounds = int(result["rounds"])
        for target, key in (
            ("backup A / floor", "a_over_floor_spread"),
            # The same, its chain counted from the enqueue (docs/benchmarks.md, "The floor").
            ("backup A / issue 22's floor", "a_over_issue_floor_spread"),
        ):
            floor, shown = _spread(result[key])
            bound = f"<= {A_OVER_FLOOR}"
            rows.append(Row(target, where, shown, rounds, bound, _at_most(floor, A_OVER_FLOOR)))
        ab, shown = _spread(result["a_over_b_spread"])
        limit = A_OVER_B[profile]
        rows.append(Row("backup A / B", where, shown, rounds, f"<= {limit}", _at_most(ab, limit)))
        refused = result.get("a_refused_429")
        rows.append(
            Row(
                "backup: 429 answers to the worker",
                where,
                str(refused),
                rounds,
                "0",
                "ok" if refused == 0 else "MISSED",
            )
        )
        peaks.append((name, int(result["peak_rss_bytes"])))
    if len(peaks) > 1:
        low, high = min(p for _, p in peaks), max(p for _, p in peaks)
        spread = report.ratio(high - low, low)
        rows.append(
            Row(
                "worker peak RSS, flat across sizes",
                f"{', '.join(n for n, _ in peaks)}, {profile}",
                f"{report.mb(low)} .. {report.mb(high)} (+{spread:.1%})",
                "max",
                f"<= +{PEAK_SPREAD:.0%}",
                _at_most(spread, PEAK_SPREAD),
            )
        )
    return rows


def restore_rows(document: dict[str, object], profile: str) -> list[Row]:
    """Restore against pg_restore -jN of a local file plus the artifact over the link."""
    name = document["database"]["name"]  # type: ignore[index]
    value, shown = _spread(document["a_over_floor_spread"])
    rounds = len(document["rounds"])  # type: ignore[arg-type]
    return [
        Row(
            f"restore / (pg_restore -j{document['pg_restore_jobs']} + bytes/link)",
            f"{name}, {profile}",
            shown,
            rounds,
            f"<= {RESTORE_OVER_FLOOR}",
            _at_most(value, RESTORE_OVER_FLOOR),
        )
    ]


def fleet_rows(document: dict[str, object], profile: str) -> list[Row]:
    """The fleet's share of the chats' ceiling and its 429s (one run: no spread)."""
    share = float(document["share_of_ceiling"])  # type: ignore[arg-type]
    refused = int(document["answers_429"])  # type: ignore[call-overload]
    where = f"fleet, {profile}"
    return [
        Row(
            "fleet: share of the chats' ceiling",
            where,
            f"{share:.1%}",
            1,
            f">= {FLEET_SHARE:.0%}",
            report.verdict(share, FLEET_SHARE, at_most=False),
        ),
        Row("fleet: 429 answers", where, str(refused), 1, "0", "ok" if refused == 0 else "MISSED"),
    ]


def _part(
    label: str,
    call: Callable[[list[str]], dict[str, object]],
    argv: list[str],
    rows: Callable[[dict[str, object]], list[Row]],
) -> list[Row]:
    report.line(f"== {label}: {' '.join(argv)}")
    try:
        return rows(call(argv))
    except Exception as exc:  # noqa: BLE001 - one part failing must not lose the others' figures
        traceback.print_exc()
        return [Row(label, "", f"failed: {type(exc).__name__}: {exc}"[:120], 0, "", "FAILED")]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ship",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--size-mb", type=int, action="append", help="database size (repeat)")
    parser.add_argument(
        "--link", choices=sorted(link.PROFILES), action="append", help="profile (repeat)"
    )
    parser.add_argument("--repeat", type=int, default=backup_speed.DEFAULT_ROUNDS)
    parser.add_argument("--no-backup", dest="backup", action="store_false")
    parser.add_argument("--no-restore", dest="restore", action="store_false")
    parser.add_argument("--no-fleet", dest="fleet", action="store_false")
    parser.add_argument("--out", type=Path, default=Path(".bench"), help="JSON directory")
    return parser


def run(argv: list[str] | None = None) -> list[Row]:
    """Every part, then the table of targets; returns its rows."""
    args = _parser().parse_args(argv)
    sizes = list(args.size_mb or DEFAULT_SIZES)
    profiles = list(args.link or link.PROFILES)  # 100mbit, then 1gbit
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    load_before = report.load_average()
    rows: list[Row] = []
    for profile in profiles:
        if args.backup:
            argv_b = [
                *(f"--size-mb={size}" for size in sizes),
                f"--link={profile}",
                f"--repeat={args.repeat}",
                "--no-overlap",
                "--no-levels",
                f"--json-out={out / f'ship_backup_{profile}.json'}",
            ]
            rows += _part(
                f"backup, {profile}",
                backup_speed.run,
                argv_b,
                functools.partial(backup_rows, profile=profile),
            )
        if args.restore:
            argv_r = [
                f"--size-mb={sizes[0]}",
                f"--link={profile}",
                f"--rounds={args.repeat}",
                f"--json-out={out / f'ship_restore_{profile}.json'}",
            ]
            rows += _part(
                f"restore, {profile}",
                restore_speed.run,
                argv_r,
                functools.partial(restore_rows, profile=profile),
            )
    if args.fleet:
        argv_f = [f"--link={FLEET_LINK}", f"--json-out={out / 'ship_fleet.json'}"]
        rows += _part("fleet", fleet.run, argv_f, functools.partial(fleet_rows, profile=FLEET_LINK))
    env = report.environment()
    report.table(
        f"Issue 22's targets, {env['taken_at']}, {env['host']}, {env['cpus']} cores, "
        f"load before {load_before}, after {report.load_average()}",
        COLUMNS,
        [row.cells() for row in rows],
    )
    report.emit(
        {
            "benchmark": "ship",
            "environment": env,
            "load_before": load_before,
            "targets": [row.to_json() for row in rows],
        },
        out / "ship.json",
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    """The command line: exit 1 when a target is missed or a part failed."""
    rows = run(argv)
    return 0 if all(row.verdict == "ok" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
