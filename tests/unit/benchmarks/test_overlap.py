"""The simulation of the worker's PartSender strategy (benchmarks/overlap.py), hand-worked."""

from __future__ import annotations

import pytest

from benchmarks import overlap


def test_one_part_is_never_sent_during_the_dump() -> None:
    assert overlap.simulate(10.0, 1, 3.0) == overlap.Simulated(13.0, 13.0, early=0)


def test_a_fast_uplink_leaves_only_the_last_part_after_the_dump() -> None:
    # Parts 1-3 are offered at 2, 4, 6 s and sent in 0.5 s each; part 4 follows the dump's end.
    assert overlap.simulate(8.0, 4, 0.5) == overlap.Simulated(10.0, 8.5, early=3)


def test_a_slow_uplink_finishes_the_part_in_flight_and_sends_the_rest_after() -> None:
    # Part 1 goes 2-7 s, part 2 starts at 7 s (before the dump's end at 8 s) and ends at 12 s;
    # part 3 was queued but not started: it is sent after, with part 4, 5 s each.
    assert overlap.simulate(8.0, 4, 5.0) == overlap.Simulated(28.0, 22.0, early=2)


def test_a_part_whose_turn_comes_at_the_dump_end_waits_for_the_upload() -> None:
    # Part 1 goes 2-6 s; the sender is free for part 2 just as the dump ends: too late.
    assert overlap.simulate(6.0, 3, 4.0) == overlap.Simulated(18.0, 14.0, early=1)


@pytest.mark.parametrize("parts", [1, 2, 3, 7, 50])
@pytest.mark.parametrize("send_each", [0.01, 0.3, 1.0, 4.0])
def test_never_slower_than_sequential_never_faster_than_the_dump_and_the_last_part(
    parts: int, send_each: float
) -> None:
    dump = 10.0
    result = overlap.simulate(dump, parts, send_each)
    assert result.sequential == pytest.approx(dump + parts * send_each)
    assert dump + send_each - 1e-9 <= result.overlapped <= result.sequential + 1e-9
    assert result.overlapped >= parts * send_each - 1e-9
    assert 0 <= result.early < parts


def test_the_uplink_model_uses_the_median_dump_and_equal_parts() -> None:
    measured = overlap.Comparison(
        sequential=[9.0, 9.0, 9.0],
        dump_only=[3.0, 5.0, 4.0],
        overlapped=[8.0, 8.0, 8.0],
        overlapped_dump=[4.0, 4.0, 4.0],
        early=[1, 1, 1],
        parts=2,
        size_bytes=40_000_000,
    )
    # At 10 MB/s each 20 MB part takes 2 s: part 1 goes 2-4 s, part 2 after the 4 s dump.
    assert measured.uplink_model(10) == overlap.Simulated(8.0, 6.0, early=1)
    model = measured.to_json()["model"]
    assert model == {
        "10_mb_per_s": {
            "sequential_seconds": 8.0,
            "overlapped_seconds": 6.0,
            "parts_sent_early": 1,
        },
        "50_mb_per_s": {
            "sequential_seconds": 4.8,
            "overlapped_seconds": 4.4,
            "parts_sent_early": 1,
        },
    }
