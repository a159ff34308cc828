"""The chain's routing to this worker's own queue (tasks/steps.py)."""

from __future__ import annotations

from celery.utils.nodenames import worker_direct

from tasks import steps


def test_the_chain_goes_to_the_queue_that_worker_direct_makes_each_worker_consume() -> None:
    # tasks/ may not import Celery's internals (import-linter); the test checks the copy.
    direct = worker_direct("w1@host-a")
    assert direct.name == "w1@host-a" + steps.DIRECT_QUEUE_SUFFIX
    assert direct.exchange.name == steps.DIRECT_EXCHANGE
    assert direct.routing_key == "w1@host-a"
