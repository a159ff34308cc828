"""The chain's routing to this worker's own queue (tasks/steps.py)."""

from __future__ import annotations

import uuid

from celery import Celery
from celery.utils.nodenames import worker_direct

from tasks import steps
from worker.contract import tasks


def test_the_chain_goes_to_the_queue_that_worker_direct_makes_each_worker_consume() -> None:
    # tasks/ may not import Celery's internals (import-linter); the test checks the copy.
    direct = worker_direct("w1@host-a")
    assert direct.name == "w1@host-a" + steps.DIRECT_QUEUE_SUFFIX
    assert direct.exchange.name == steps.DIRECT_EXCHANGE
    assert direct.routing_key == "w1@host-a"


def test_a_resumed_chain_is_immutable_and_goes_to_the_host_that_holds_the_job() -> None:
    app = Celery("test-steps", set_as_current=False)
    job_id = uuid.uuid4()
    made = steps.step_signatures(app, "w1@host-a", job_id, [tasks.UPLOAD, tasks.RECORD])
    assert [s.task for s in made] == [tasks.UPLOAD, tasks.RECORD]
    for signature in made:
        # Not immutable, the record step would get the upload's result as an argument.
        assert signature.immutable
        assert signature.kwargs == {"job_id": str(job_id)}
        assert signature.options["queue"] == "w1@host-a" + steps.DIRECT_QUEUE_SUFFIX
        assert signature.options["exchange"] == steps.DIRECT_EXCHANGE
        assert signature.options["routing_key"] == "w1@host-a"


def test_on_redis_a_dump_and_a_download_wait_behind_the_steps_of_jobs_under_way() -> None:
    app = Celery("test-steps", set_as_current=False, broker="redis://localhost:6379/0")
    names = [tasks.DUMP, tasks.UPLOAD, tasks.RECORD, tasks.DOWNLOAD, tasks.LOAD]
    made = steps.step_signatures(app, "w1@host-a", uuid.uuid4(), names)
    priorities = {s.task: s.options.get("priority") for s in made}
    assert priorities == {
        tasks.DUMP: steps.OPENING_PRIORITY,
        tasks.UPLOAD: None,
        tasks.RECORD: None,
        tasks.DOWNLOAD: steps.OPENING_PRIORITY,
        tasks.LOAD: None,
    }


def test_on_rabbitmq_no_step_carries_a_priority() -> None:
    # RabbitMQ would read 9 as the highest priority on a queue declared with priorities.
    app = Celery("test-steps", set_as_current=False, broker="amqp://guest@localhost//")
    made = steps.step_signatures(app, "w1@host-a", uuid.uuid4(), [tasks.DUMP, tasks.DOWNLOAD])
    assert [s.options.get("priority") for s in made] == [None, None]
