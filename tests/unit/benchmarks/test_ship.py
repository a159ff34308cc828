"""benchmarks.ship's table of issue 22's targets, from given JSON documents: each verdict follows
the measured median against its limit, and a part that failed is a failed row, not a lost one."""

from __future__ import annotations

from benchmarks import restore_speed, ship


def _backup(
    name: str, floor: float, ab: float, refused: int | None, peak: int, issued: float = 1.0
) -> dict[str, object]:
    return {
        "database": {"name": name},
        "rounds": 5,
        "a_over_floor_spread": {"median": floor, "min": floor - 0.01, "max": floor + 0.02},
        "a_over_issue_floor_spread": {"median": issued, "min": issued, "max": issued},
        "a_over_b_spread": {"median": ab, "min": ab, "max": ab},
        "a_refused_429": refused,
        "peak_rss_bytes": peak,
    }


def _verdicts(rows: list[ship.Row]) -> dict[str, str]:
    return {f"{row.target} | {row.where}": row.verdict for row in rows}


def test_backup_targets_follow_the_medians_and_the_profiles_limits() -> None:
    document: dict[str, object] = {
        "results": [
            _backup("bwbench_400mb", 1.05, 0.5, 0, 100_000_000, issued=1.12),
            _backup("bwbench_1500mb", 1.2, 0.5, 1, 112_000_000),
        ]
    }
    slow = _verdicts(ship.backup_rows(document, "100mbit"))
    assert slow["backup A / floor | bwbench_400mb, 100mbit"] == "ok"
    assert slow["backup A / floor | bwbench_1500mb, 100mbit"] == "MISSED"
    # Both floors are shown, each against the limit.
    assert slow["backup A / issue 22's floor | bwbench_400mb, 100mbit"] == "MISSED"
    assert slow["backup A / issue 22's floor | bwbench_1500mb, 100mbit"] == "ok"
    assert slow["backup A / B | bwbench_400mb, 100mbit"] == "ok"  # 0.5 <= 0.6
    assert slow["backup: 429 answers to the worker | bwbench_1500mb, 100mbit"] == "MISSED"
    # 112 MB against 100 MB is 12 % more: beyond the 10 % allowed.
    assert slow["worker peak RSS, flat across sizes | bwbench_400mb, bwbench_1500mb, 100mbit"] == (
        "MISSED"
    )
    fast = _verdicts(ship.backup_rows(document, "1gbit"))
    assert fast["backup A / B | bwbench_400mb, 1gbit"] == "MISSED"  # 0.5 > 0.35


def test_restore_is_held_against_pg_restore_plus_the_download() -> None:
    rounds = [restore_speed.Round(c=10.0, b=20.0, a=11.5, link_seconds=1.0) for _ in range(5)]
    assert rounds[0].floor == 11.0
    document = {
        "database": {"name": "bwbench_400mb"},
        "pg_restore_jobs": 2,
        "rounds": [r.to_json() for r in rounds],
        "a_over_floor_spread": {"median": 11.5 / 11.0, "min": 1.0, "max": 1.1},
    }
    (row,) = ship.restore_rows(document, "100mbit")
    assert row.verdict == "ok"
    assert row.rounds == 5
    document["a_over_floor_spread"] = {"median": 1.2, "min": 1.2, "max": 1.2}
    assert ship.restore_rows(document, "100mbit")[0].verdict == "MISSED"


def test_fleet_needs_the_share_and_no_429() -> None:
    good = ship.fleet_rows({"share_of_ceiling": 0.96, "answers_429": 0}, "1gbit")
    assert [row.verdict for row in good] == ["ok", "ok"]
    bad = ship.fleet_rows({"share_of_ceiling": 0.94, "answers_429": 2}, "1gbit")
    assert [row.verdict for row in bad] == ["MISSED", "MISSED"]


def test_a_part_that_fails_is_a_failed_row() -> None:
    def broken(argv: list[str]) -> dict[str, object]:
        raise RuntimeError("job ended failed: the stand-in went away")

    (row,) = ship._part("restore, 1gbit", broken, [], lambda doc: [])
    assert row.verdict == "FAILED"
    assert "stand-in went away" in row.figure
