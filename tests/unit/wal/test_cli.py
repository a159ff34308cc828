"""`restore --to-time …` reaches the point restore; bad targets are refused in one line."""

from __future__ import annotations

from click.testing import CliRunner

from worker.cli import main


def test_a_time_without_a_zone_is_refused_before_anything_is_read() -> None:
    result = CliRunner().invoke(
        main.main,
        ["restore", "--project", "acme", "--to-time", "2026-12-05 14:03:07", "--replace"],
    )
    assert result.exit_code != 0
    assert "--to-time '2026-12-05 14:03:07' needs a time zone, like +00" in result.output


def test_a_point_restore_needs_a_new_database_or_replace() -> None:
    result = CliRunner().invoke(main.main, ["restore", "--project", "acme", "--to-latest"])
    assert result.exit_code == 2
    assert "give --target-database NEW, or --replace" in result.output


def test_two_targets_at_once_are_refused() -> None:
    result = CliRunner().invoke(
        main.main,
        [
            "restore",
            "--project",
            "acme",
            "--target-database",
            "acme_x",
            "--to-latest",
            "--to-lsn",
            "0/1",
        ],
    )
    assert result.exit_code != 0
    assert "give exactly one of --to-time, --to-lsn, --to-latest" in result.output
