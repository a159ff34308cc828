"""The chaos run, short: a few backups through every fault kind, on throwaway services.

Its own PostgreSQL clusters (free ports from 25433, 25443, 25453) and Redis server (from 6391),
never the shared ones, since it restarts them. Two workers, not the run's three: the machine
running the suite is small. `make chaos` runs the full 50-job version (docs/reliability.md).
"""

from __future__ import annotations

import shutil

import pytest

from chaos import harness
from chaos.stack import Options
from tests.support import services

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None or shutil.which("runuser") is None,
    reason="needs redis-server and runuser (root) for throwaway services",
)


@pytest.mark.timeout(300)
def test_a_short_chaos_run_accounts_for_every_job() -> None:
    config = harness.Config(
        jobs=6,
        workers=2,
        kills=1,
        restore_sample=1,
        timeout=200,
        options=Options(
            pg_port=services.free_port(25433),
            redis_port=services.free_port(6391),
            databases=2,
            rows=2000,
        ),
    )
    report = harness.run(config, scan_leaks=True)
    print(report.render())
    assert report.problems == []
    assert report.completed + report.failed == report.jobs
    assert report.jobs_with_two_backups == 0
    assert report.parts_recorded_twice == 0
    assert report.spool_leftovers == []
    assert report.verified_ok == report.backups - 1  # all but the sabotaged one, caught
    assert report.leaks == []
    assert {"kill", "redis", "pg", "fill", "record", "forget"} <= set(report.faults_injected)
    assert report.sabotage_caught
    assert report.sabotage_alerts == 1
    assert report.telegram_leftovers == []
