"""The fleet's own Redis clients through Redis Sentinel, across a failover: the pacer, the
counters' client and `backup-worker check`'s broker check (the worker's: the acceptance test)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support import sentinel
from worker import settings
from worker.cli.preflight import OK, infra
from worker.metrics import counters
from worker.telegram import pacer

CHAT = "-1001234567890"
BOT = "123456"


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sentinel.SentinelGroup]:
    with sentinel.group(Path(tmp_path_factory.mktemp("sentinel"))) as made:
        yield made


@pytest.mark.timeout(60)
def test_the_pacer_and_the_counters_follow_a_promoted_replica(
    group: sentinel.SentinelGroup,
) -> None:
    config = settings.Settings(
        _env_file=None,
        celery_broker_url=group.url(0),
        celery_result_backend=group.url(1),
        redis_sentinel_master=group.master,
        telegram_chat_per_second=1000,
        telegram_group_per_minute=1000,
    )
    paced = pacer.from_settings(config)
    assert paced is not None
    count = counters.RedisCounters(counters.client_for(group.url(0), group.master))
    assert paced.take([(BOT, CHAT)]).wait >= 0
    count.request("sendDocument", "ok")
    time.sleep(0.3)  # replicated (asynchronously) before the primary dies
    group.kill_primary()
    group.wait_promoted()
    # The first call after the loss may find the old connection gone; the next one the new
    # primary (the pacer waits an unreachable Redis out itself in the sender).
    deadline = time.monotonic() + 20
    while True:
        try:
            paced.take([(BOT, CHAT)])
            break
        except redis.RedisError:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    # A count that meets the lost connection is dropped (counters never fail a send); the
    # next one goes to the new primary.
    count.request("sendDocument", "ok")
    count.request("sendDocument", "ok")
    promoted = counters.client_for(group.url(0), group.master)
    assert promoted.connection_pool.get_master_address() == (  # type: ignore[attr-defined]
        "127.0.0.1",
        group.ports["replica"],
    )
    assert counters.read(promoted).requests[("sendDocument", "ok")] >= 2
    verdicts = infra.broker(group.url(0), 5, master=group.master)
    assert [v.status for v in verdicts] == [OK], verdicts
