"""The arithmetic of the CLI start-up benchmark (benchmarks/cli_start.py), on given numbers."""

from __future__ import annotations

import argparse

import pytest

from benchmarks import cli_start


def test_ratios_pair_each_command_with_the_floor_run_just_before_it() -> None:
    series = cli_start.Series("--help", floor=(0.02, 0.04, 0.02), command=(0.2, 0.2, 0.3))
    assert series.ratios() == pytest.approx([10.0, 5.0, 15.0])


def test_figures_are_median_and_min_max_of_seconds_and_of_ratios() -> None:
    series = cli_start.Series(
        "backup --json",
        floor=(0.020, 0.025, 0.020, 0.040, 0.020),
        command=(0.40, 0.50, 0.30, 0.60, 0.45),
        cpu=(0.30, 0.35, 0.28, 0.31, 0.33),
    )
    figures = series.to_json()
    assert figures["rounds"] == 5
    assert figures["seconds"] == {"median": 0.45, "min": 0.30, "max": 0.60}
    assert figures["floor_seconds"] == {"median": 0.02, "min": 0.02, "max": 0.04}
    # Ratios 20, 20, 15, 15, 22.5: the median of ratios, not median / median (0.45 / 0.02).
    assert figures["ratio_to_floor"] == {"median": 20.0, "min": 15.0, "max": 22.5}
    assert figures["cpu_seconds"] == {"median": 0.31, "min": 0.28, "max": 0.35}


def test_an_even_number_of_rounds_takes_the_mean_of_the_middle_two() -> None:
    assert cli_start.spread([0.1, 0.4, 0.2, 0.3])["median"] == pytest.approx(0.25)


def test_the_verdict_compares_the_median_with_its_target() -> None:
    fast = cli_start.Series("--help", floor=(0.02,) * 5, command=(0.1, 0.2, 0.25, 0.9, 0.9))
    slow = cli_start.Series("backup --json", floor=(0.02,) * 5, command=(0.6,) * 5)
    document = cli_start.show([fast, slow], {"--help": 0.3, "backup --json": 0.5})
    verdicts = document["verdicts"]
    assert isinstance(verdicts, list)
    assert {v["what"]: v["verdict"] for v in verdicts} == {
        "--help": "ok",
        "backup --json": "MISSED",
    }


def test_fewer_than_five_rounds_are_refused() -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        cli_start.rounds_arg("4")
    assert cli_start.rounds_arg("5") == 5
