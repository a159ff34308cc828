"""No secret anywhere after a chaos run and the bad-input corpus: Redis, tables, logs, Flower.

The source database URL has a real password (a SCRAM role on a throwaway cluster), an age
identity is configured, the bot token is a long random one; Flower runs with basic auth.
"""

from __future__ import annotations

import os
import shutil
import time

import pytest

from chaos import corpus, harness, leaks
from chaos.stack import ChaosStack, Options, open_stack
from tests.support import services
from worker.contract import publish

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None or shutil.which("runuser") is None,
    reason="needs redis-server and runuser (root) for throwaway services",
)


def logs(stack: ChaosStack) -> str:
    return "".join(path.read_text(errors="replace") for path in stack.logs())


@pytest.mark.timeout(240)
def test_no_secret_in_redis_tables_logs_or_flower_after_chaos_and_bad_input() -> None:
    config = harness.Config(
        jobs=4,
        kills=0,  # the restarts and kills are test_chaos_short's; here Telegram faults only
        redis_restarts=0,
        pg_restarts=0,
        spool_fills=0,
        restore_sample=1,
        timeout=120,
        options=Options(
            pg_port=services.free_port(25434),
            redis_port=services.free_port(6392),
            databases=2,
            rows=1000,
        ),
    )
    stack = open_stack(config.options)
    try:
        report = harness.Run(stack, config).run()
        assert report.problems == [], report.render()
        cases = corpus.cases()
        corpus.send(cases, publish.Publisher(stack.client.send_task))
        deadline = time.monotonic() + 60
        while any(case.task_id not in logs(stack) for case in cases):
            assert time.monotonic() < deadline, "the corpus was not consumed"
            time.sleep(0.5)
        time.sleep(2)
        password = "fl-" + os.urandom(8).hex()
        port = services.free_port()
        stack.start_flower(FLOWER_BASIC_AUTH=f"ops:{password}", FLOWER_PORT=str(port))
        url = f"http://127.0.0.1:{port}"
        # Flower learns tasks from events: one more backup while it listens.
        stack.enqueue("proj-flower", stack.sources[0].database)
        time.sleep(8)
        sources = [
            *leaks.redis_texts("127.0.0.1", config.options.redis_port, range(16)),
            *leaks.table_texts(stack.control.dsn("control")),
            *leaks.log_texts(stack.logs()),
            *leaks.flower_texts(url, ("ops", password)),
        ]
        secrets = {**stack.secrets(), "flower password": password}
        count, found = leaks.scan(secrets, sources)
        assert count > 50
        assert any(where.startswith("flower /api/task/info") for where, _ in sources)
        assert found == [], found
    finally:
        stack.close()
