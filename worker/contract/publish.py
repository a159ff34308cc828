"""The one way to publish a public task: a typed message in, Celery keyword arguments out.

`Publisher` wraps Celery's `send_task` (a dependency: nothing here imports the Celery app).
On the wire a message is keyword arguments only, as the api-gateway's celery-node client sends
them: the model's field names, UUIDs as strings, and an argument left at its default left out,
so a worker that predates an optional argument still accepts the message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from worker.contract import tasks


class SendTask(Protocol):
    """Celery's `app.send_task`, as far as publishing needs it."""

    def __call__(
        self,
        name: str,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> object: ...


# Celery's `app.producer_or_acquire`: one broker producer held for many messages.
Producer = Callable[[], AbstractContextManager[Any]]


@dataclass(frozen=True)
class Delayed:
    """A message to send after `countdown` seconds."""

    message: tasks.Message
    countdown: float = 0.0


def kwargs_of(message: tasks.Message) -> dict[str, object]:
    """The message's keyword arguments as they travel (JSON-ready)."""
    out: dict[str, object] = {}
    for field in dataclasses.fields(message):
        value = getattr(message, field.name)
        default = field.default
        if default is not dataclasses.MISSING and type(value) is type(default) and value == default:
            continue
        out[field.name] = str(value) if isinstance(value, uuid.UUID) else value
    return out


class Publisher:
    """Sends typed messages through `send_task`; every sender of a public task uses one."""

    def __init__(
        self,
        send_task: SendTask,
        *,
        producer: Producer | None = None,
        queue: str | None = None,
        ignore_result: bool = False,
    ) -> None:
        self._send_task = send_task
        self._producer = producer
        self._options: dict[str, Any] = {}
        if queue is not None:
            self._options["queue"] = queue
        if ignore_result:
            # Replies nobody reads (beat's and the reaper's) would only fill the result backend.
            self._options["ignore_result"] = True

    def send(
        self,
        message: tasks.Message,
        *,
        countdown: float = 0.0,
        task_id: str | None = None,
        expires: float | None = None,
    ) -> str:
        """Publish one message; returns its Celery task id. `expires`: seconds after which a
        worker drops it unrun (a periodic tick that waited too long is not worth running)."""
        extra = {} if expires is None else {"expires": expires}
        return self._publish(message.NAME, kwargs_of(message), countdown, task_id, None, extra)

    def send_all(self, items: Iterable[Delayed]) -> list[str]:
        """Publish many messages over one broker producer; their task ids, in order."""
        held = self._producer() if self._producer is not None else contextlib.nullcontext()
        with held as producer:
            return [
                self._publish(
                    item.message.NAME, kwargs_of(item.message), item.countdown, None, producer, {}
                )
                for item in items
            ]

    def send_raw(
        self,
        name: str,
        kwargs: Mapping[str, object],
        *,
        args: Sequence[object] = (),
        task_id: str | None = None,
    ) -> str:
        """Publish arguments unchecked, as a buggy or hostile client could: for the harnesses
        that test how the worker refuses them. Everything else sends a typed message."""
        task = task_id or str(uuid.uuid4())
        self._send_task(name, list(args), kwargs=dict(kwargs), task_id=task, **self._options)
        return task

    def _publish(
        self,
        name: str,
        kwargs: dict[str, object],
        countdown: float,
        task_id: str | None,
        producer: object,
        extra: dict[str, Any],
    ) -> str:
        # The id is chosen here, not read back from Celery's AsyncResult: a job id derived
        # from it (worker.jobs.intake.job_id_for_task) is then known before anything is sent.
        task = task_id or str(uuid.uuid4())
        options: dict[str, Any] = self._options | extra
        if countdown:
            options["countdown"] = countdown
        if producer is not None:
            options["producer"] = producer
        self._send_task(name, kwargs=kwargs, task_id=task, **options)
        return task
