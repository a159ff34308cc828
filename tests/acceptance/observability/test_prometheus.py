"""A real Prometheus scrapes the real exporter after a real backup, and answers queries on it.

Real worker, Redis, PostgreSQL, pg_dump and the Bot API stand-in (the `stack` fixture), plus
`backup-worker exporter` and Debian's `prometheus` binary, each a subprocess on a free port.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.acceptance.conftest import TOKEN, Stack
from tests.unit.metrics.test_prometheus_rules import RULES, alerts, panel_exprs

BACKUP_WORKER = Path(sys.executable).parent / "backup-worker"
Answer = dict[str, object]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - a local URL
        body: bytes = answer.read()
        return body


def wait_until(check: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if callable(check) and check():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def started(
    args: list[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def exporter_url(stack: Stack) -> Iterator[str]:
    port = free_port()
    env = stack.env(EXPORTER_ADDRESS="127.0.0.1", EXPORTER_PORT=str(port))
    process = started([str(BACKUP_WORKER), "exporter"], stack.tmp / "exporter.log", env)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        wait_until(lambda: get(url), "the exporter")
        yield url
    finally:
        stop(process)


@pytest.fixture
def prometheus(stack: Stack, exporter_url: str) -> Iterator[str]:
    program = shutil.which("prometheus")
    assert program, "prometheus is missing: run scripts/system-deps.sh"
    target = urllib.parse.urlsplit(exporter_url).netloc
    config = stack.tmp / "prometheus.yml"
    config.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(RULES)],
                "scrape_configs": [
                    {"job_name": "backup-worker", "static_configs": [{"targets": [target]}]}
                ],
            }
        )
    )
    port = free_port()
    args = [program, f"--config.file={config}", f"--storage.tsdb.path={stack.tmp / 'tsdb'}"]
    args += [f"--web.listen-address=127.0.0.1:{port}"]
    process = started(args, stack.tmp / "prometheus.log")
    api = f"http://127.0.0.1:{port}/api/v1"
    try:
        wait_until(lambda: get(f"http://127.0.0.1:{port}/-/ready"), "prometheus")
        yield api
    finally:
        stop(process)


def query(api: str, expr: str) -> Answer:
    answer: Answer = json.loads(get(f"{api}/query?" + urllib.parse.urlencode({"query": expr})))
    assert answer["status"] == "success", answer
    return answer


def series(api: str, expr: str) -> list[Answer]:
    data = query(api, expr)["data"]
    assert isinstance(data, dict)
    result = data["result"]
    assert isinstance(result, list)
    return result


@pytest.mark.timeout(300)
def test_prometheus_reads_the_last_success_of_a_real_backup(stack: Stack, prometheus: str) -> None:
    stack.start_worker()
    job_id = stack.send(project_id="proj-prom", database=stack.source_db)
    assert stack.wait_job(job_id)["status"] == "completed"
    with stack.database.engine.connect() as conn:
        created, size = conn.execute(
            text("SELECT created_at, size_bytes FROM control_plane.backups WHERE job_id = :id"),
            {"id": job_id},
        ).one()

    wanted = 'backup_worker_last_success_timestamp_seconds{project="proj-prom"}'
    found: list[Answer] = []

    def scraped() -> bool:
        found[:] = series(prometheus, wanted)
        return bool(found)

    wait_until(scraped, "a scrape that has the backup")
    [sample] = found
    assert sample["metric"] == {
        "__name__": "backup_worker_last_success_timestamp_seconds",
        "project": "proj-prom",
        "database": stack.source_db,
        "instance": sample["metric"]["instance"],  # type: ignore[index]
        "job": "backup-worker",
    }
    value = sample["value"]
    assert isinstance(value, list)
    assert float(value[1]) == pytest.approx(created.timestamp(), abs=0.001)
    [sized] = series(prometheus, 'backup_worker_last_backup_size_bytes{project="proj-prom"}')
    assert int(float(sized["value"][1])) == size  # type: ignore[index]

    # The worker counted its sendDocument calls into Redis; the exporter read them back.
    sent = 'backup_worker_telegram_requests_total{method="sendDocument",outcome="ok"}'
    [requests] = series(prometheus, sent)
    assert float(requests["value"][1]) >= 1  # type: ignore[index]
    [up] = series(prometheus, 'up{job="backup-worker"}')
    assert up["value"][1] == "1"  # type: ignore[index]

    # The backup's job is in the run-time histogram; the version is the installed one.
    done = 'backup_worker_job_duration_seconds_count{type="backup",outcome="completed"}'
    [finished] = series(prometheus, done)
    assert float(finished["value"][1]) >= 1  # type: ignore[index]
    [info] = series(prometheus, "backup_worker_build_info")
    assert info["metric"]["version"] == metadata.version("backup-worker")  # type: ignore[index]

    # The worker's heartbeat (worker.app starts it once the worker consumes): alive, with a spool.
    [live] = series(prometheus, 'backup_worker_workers{queue="celery"}')
    assert float(live["value"][1]) >= 1  # type: ignore[index]
    assert series(prometheus, "backup_worker_spool_free_bytes")

    # Every panel of the dashboard is a query Prometheus accepts.
    for expr in panel_exprs():
        query(prometheus, expr)

    def rules_healthy() -> bool:
        groups = json.loads(get(f"{prometheus}/rules"))["data"]["groups"]
        health = [rule["health"] for group in groups for rule in group["rules"]]
        return health == ["ok"] * len(alerts())

    wait_until(rules_healthy, "the alerting rules to be evaluated")
    everything = get(f"{prometheus}/query?query=" + urllib.parse.quote('{job="backup-worker"}'))
    assert TOKEN.split(":", 1)[1].encode() not in everything
