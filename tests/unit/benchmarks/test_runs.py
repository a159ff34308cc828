"""Each benchmark, run end to end at a tiny size, so that none of them can rot unnoticed.

They use the real services (PostgreSQL, Redis, a celery worker, the stand-in) like the real
runs; the figures are not checked, only that every measurement is there and consistent.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from benchmarks import backup_speed, maintenance, small_jobs

TINY_MB = 9  # pg_database_size; with the scale below, about 0.5 MB of table data
TINY_SCALE = 0.02


def as_printed(document: dict[str, object]) -> Any:
    """The document as its JSON output reads (a JSON boundary: Any is the honest type)."""
    return json.loads(json.dumps(document, default=str))


@pytest.mark.timeout(120)
def test_backup_speed_measures_a_b_c_memory_and_compression() -> None:
    document = as_printed(
        backup_speed.run(
            [
                f"--size-mb={TINY_MB}",
                f"--scale={TINY_SCALE}",
                "--concurrency=1",
                "--zstd-levels=1,3",
                "--zstd-thread-counts=0,1",
                "--sample-mb=1",
                "--jobs=1",
                "--overlap-part-size=65536",
                "--repeat=1",
            ]
        )
    )
    (result,) = document["results"]
    for key in ("a_worker_seconds", "b_naive_seconds", "c_floor_seconds", "a_over_b", "a_over_c"):
        assert result[key] > 0, key
    assert result["artifact_bytes"] > 0
    assert result["pg_dump_fc_bytes"] > 0
    assert result["raw_dump_bytes"] > result["artifact_bytes"]
    assert result["peak_rss_bytes"] >= result["peak_pss_bytes"] > 0
    (run,) = result["runs"]["worker"]
    assert set(run["tasks"]) >= {"backups.dump", "backups.upload", "backups.record"}
    assert run["job_writes"] >= 3
    assert len(result["compression_table"]) == 1 + 2 * 2  # zlib, then zstd levels x threads
    overlap = result["overlap"]
    assert overlap["parts"] >= 2
    (early,) = overlap["parts_sent_early"]
    assert 0 <= early < overlap["parts"]  # the last part is never sent during the dump
    assert set(overlap["model"]) == {"10_mb_per_s", "50_mb_per_s"}
    assert {v["what"] for v in document["verdicts"]} >= {"A/B", "A/C"}


@pytest.mark.timeout(120)
def test_small_jobs_reports_throughput_and_overhead() -> None:
    document = as_printed(
        small_jobs.run(
            [
                "--jobs=3",
                "--rounds=1",
                "--databases=1",
                f"--size-mb={TINY_MB}",
                f"--scale={TINY_SCALE}",
                "--concurrency=1",
            ]
        )
    )
    (pool,) = document["worker"]
    assert pool["jobs"] == 3
    assert pool["jobs_per_minute"] > 0
    assert isinstance(pool["overhead_per_job_seconds"], float)
    assert pool["jobs_row_writes_per_job"] >= 3
    assert set(pool["mean_task_seconds"]) >= {"dump", "upload", "record"}
    assert document["bare"]["jobs_per_minute"] > 0


@pytest.mark.timeout(120)
def test_maintenance_times_each_operation_and_explains_it() -> None:
    document = as_printed(
        maintenance.run(["--rows=2000", "--due=20", "--deep-offset=1000", "--repeat=1"])
    )
    operations = {op["name"]: op for op in document["operations"]}
    assert operations["stats"]["rows"] == 2000
    assert operations["list: first page"]["rows"] == maintenance.PAGE
    assert operations["list: page after row 1,000 (before=its id)"]["rows"] == maintenance.PAGE
    assert operations["db.queries.backups.mark_expired"]["rows"] == 20
    # One row per project at this size: every due row is its project's newest, and stays.
    assert operations["db.queries.expiry.expire_due (the sweep)"]["rows"] == 0
    assert any(name.startswith("stats with ") for name in operations)
    for op in operations.values():
        assert op["median_seconds"] > 0
        assert op["plans"], op["name"]
