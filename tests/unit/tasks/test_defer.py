"""A step deferred to its Telegram slot is retried as often as it takes, its slot carried along."""

from __future__ import annotations

from celery import Celery, Task

from tasks import steps
from worker import errors

SLOT = {"bot_id": "111111", "chat_id": "-1001", "id": "abc", "at_us": "1"}


def test_a_step_deferred_more_often_than_celerys_default_retries_still_runs() -> None:
    app = Celery("defer-test", set_as_current=False)
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = False
    seen: list[object] = []

    @app.task(bind=True, name="test.upload")
    def upload(self: Task, *, job_id: str, slot: object = None) -> str:  # type: ignore[type-arg]
        seen.append(slot)
        if len(seen) <= 6:  # Celery's default max_retries is 3
            deferred = errors.PacerDeferred("slot far off", seconds=0.0, slot=SLOT)
            raise steps.defer(self, job_id, deferred, max_sleep=0.5)
        return job_id

    assert upload.apply(kwargs={"job_id": "j-1"}).get() == "j-1"
    assert seen == [None] + [SLOT] * 6
