"""The arithmetic of benchmarks.backup_speed's rounds, on given numbers: ratios are taken round
by round, then their median and min-max are reported (not a ratio of medians)."""

from __future__ import annotations

import dataclasses

import pytest

from benchmarks import (
    baseline,
    datagen,
    jobrun,
    memory,
    report,
    small_jobs,
    small_tables,
    speed_result,
)


def _worker(seconds: float, dump: float) -> jobrun.WorkerRun:
    return jobrun.WorkerRun(
        seconds=seconds,
        tasks={"backups.dump": dump},
        size_bytes=80,
        parts=1,
        raw_bytes=300,
        job_writes=13,
        idle=memory.Peak(),
        peak=memory.Peak(),
        cpu_seconds=seconds * 0.9,
    )


def _naive(seconds: float) -> baseline.NaiveRun:
    return baseline.NaiveRun(seconds, seconds - 0.2, 0.05, 0.15, 85, 1, cpu_seconds=seconds)


def _result(a: list[float], b: list[float], c: list[float]) -> speed_result.SizeResult:
    database = datagen.SourceDatabase("bwbench_test", 400, 300, {}, cached=True, seconds=0.0)
    result = speed_result.SizeResult(database)
    result.floors = [baseline.FloorRun(value, 0.3, [0.5, 0.6, 0.7]) for value in c]
    result.naives = [_naive(value) for value in b]
    result.workers = [_worker(value, value - 0.1) for value in a]
    return result


def test_per_round_pairs_each_numerator_with_its_own_round() -> None:
    assert report.per_round([2.0, 3.0, 4.0], [1.0, 2.0, 0.0]) == [2.0, 1.5, 0.0]
    with pytest.raises(ValueError, match=r"shorter|longer"):
        report.per_round([1.0], [1.0, 2.0])


def test_spread_is_median_and_min_max() -> None:
    assert report.spread([3.0, 1.0, 2.0, 10.0, 4.0]) == {"median": 3.0, "min": 1.0, "max": 10.0}
    assert report.spread([1.0, 2.0])["median"] == pytest.approx(1.5)
    assert report.spread([]) == {"median": 0.0, "min": 0.0, "max": 0.0}
    assert report.shown({"median": 1.344, "min": 1.28, "max": 2.401}, 2) == "1.34 (1.28-2.40)"


def test_ratios_are_medians_of_the_rounds_not_ratios_of_the_medians() -> None:
    # Round 4 is a load spike that slowed A and C alike: its A/C stays in line.
    result = _result(
        a=[2.0, 2.2, 1.8, 4.0, 2.1],
        b=[7.0, 7.0, 6.0, 8.0, 7.0],
        c=[1.0, 1.0, 1.5, 2.0, 1.4],
    )
    assert result.a_over_c == pytest.approx([2.0, 2.2, 1.2, 2.0, 1.5])
    document = result.to_json()
    assert document["rounds"] == 5
    # Median of 2.0, 2.2, 1.2, 2.0, 1.5 is 2.0; the ratio of the medians would be 2.1 / 1.4 = 1.5.
    assert document["a_over_c"] == pytest.approx(2.0)
    assert document["a_over_c_spread"] == {"median": 2.0, "min": 1.2, "max": 2.2}
    ab = [2 / 7, 2.2 / 7, 1.8 / 6, 4 / 8, 2.1 / 7]
    assert document["a_over_b"] == pytest.approx(sorted(ab)[2], abs=1e-4)
    assert document["a_over_b_spread"] == pytest.approx(
        {"median": sorted(ab)[2], "min": 2 / 7, "max": 0.5}, abs=1e-4
    )


def test_every_round_is_in_the_json_with_its_cpu_times_and_load() -> None:
    result = _result(a=[2.0, 3.0], b=[8.0, 6.0], c=[1.0, 1.5])
    rounds = result.to_json()["per_round"]
    assert isinstance(rounds, list)
    assert [row["round"] for row in rounds] == [1, 2]
    assert rounds[1] == {
        "round": 2,
        "c_seconds": 1.5,
        "b_seconds": 6.0,
        "a_seconds": 3.0,
        "a_over_b": 0.5,
        "a_over_c": 2.0,
        "floor_seconds": 1.5,
        "a_over_floor": 2.0,
        "first_part_dump_seconds": 1.5,  # no output recorded: the whole dump
        "issue_floor_seconds": 1.5,
        "a_over_issue_floor": 2.0,
        "b_refused_429": 0,
        "c_cpu_seconds": 0.3,
        "b_cpu_seconds": 6.0,
        "a_cpu_seconds": 2.7,
        "a_dump_seconds": 2.9,
        "load_average_before": [0.5, 0.6, 0.7],
    }


def test_the_floor_is_the_dump_the_link_or_telegrams_rate_whichever_is_longest() -> None:
    result = _result(a=[9.0, 9.0, 9.0], b=[20.0, 20.0, 20.0], c=[4.0, 1.0, 1.0])
    result.link_rate = 10.0  # bytes per second
    sizes_and_parts = [(20, 2), (50, 3), (20, 8)]  # 2 s, 5 s, 2 s over the link
    result.workers = [
        dataclasses.replace(worker, size_bytes=size, parts=parts)
        for worker, (size, parts) in zip(result.workers, sizes_and_parts, strict=True)
    ]
    # The dump (4 s), the link (5 s), then 7 gaps of a second between 8 messages in one chat.
    assert result.issue_floors == [4.0, 5.0, 7.0]
    assert result.a_over_issue_floor == pytest.approx([9 / 4, 9 / 5, 9 / 7])
    result.link_rate = None  # loopback: the link bounds nothing
    assert result.issue_floors == [4.0, 2.0, 7.0]


def test_telegrams_chain_begins_once_pg_dump_has_written_the_first_part() -> None:
    result = _result(a=[9.0, 9.0], b=[20.0, 20.0], c=[1.0, 1.0])
    result.part_size = 100
    # pg_dump wrote 300 bytes by 0.1 s, 600 by 0.2 s and 900 by 0.3 s, then ended.
    output = ((300, 0.1), (600, 0.2), (900, 0.3))
    result.floors = [dataclasses.replace(floor, output=output) for floor in result.floors]
    # 8 parts of an artifact of 750 bytes from 900 of dump: the smallest first part that keeps
    # 8 parts holds 50 bytes, 60 of dump (0.1 s). 2 parts of 180 bytes: 80 bytes, 400 of dump
    # (0.2 s), and a chain of 1 s after it, longer than the dump (1 s).
    result.workers = [
        dataclasses.replace(worker, size_bytes=size, parts=parts, raw_bytes=900)
        for worker, (size, parts) in zip(result.workers, [(750, 8), (180, 2)], strict=True)
    ]
    assert result.first_part_dumps == [0.1, 0.2]
    assert result.physical_floors == pytest.approx([7.1, 1.2])
    assert result.issue_floors == [7.0, 1.0]
    assert result.a_over_floor == pytest.approx([9 / 7.1, 9 / 1.2])


def test_rounds_must_pair_up() -> None:
    result = _result(a=[2.0, 3.0], b=[8.0], c=[1.0, 1.5])
    with pytest.raises(ValueError, match=r"shorter|longer"):
        result.to_json()


def test_small_jobs_rounds_give_per_round_ratio_and_overhead() -> None:
    def pool(concurrency: int, seconds: float) -> small_jobs.PoolRun:
        return small_jobs.PoolRun(concurrency, seconds, 0.1, jobs=100)

    rounds = [
        small_tables.Round(bare, [_naive(0.1)], [pool(1, one), pool(2, two)])
        for bare, one, two in [(10.0, 12.0, 8.0), (20.0, 22.0, 15.0), (10.0, 13.0, 7.0)]
    ]
    single = small_tables.per_pool(rounds, 0)
    assert single["over_bare"] == pytest.approx({"median": 1.2, "min": 1.1, "max": 1.3})
    # (12 - 10) / 100, (22 - 20) / 100, (13 - 10) / 100
    assert single["overhead_per_job_seconds"] == pytest.approx(
        {"median": 0.02, "min": 0.02, "max": 0.03}
    )
    double = small_tables.per_pool(rounds, 1)
    assert double["over_bare"] == pytest.approx({"median": 0.75, "min": 0.7, "max": 0.8})
    assert "overhead_per_job_seconds" not in double  # two slots: jobs overlap, no per-job cost
