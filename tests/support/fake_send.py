"""A stand-in for Celery's `send_task`: records what a Publisher would put on the broker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from worker.contract import publish


@dataclass(frozen=True)
class Call:
    """One send_task call."""

    name: str
    args: list[Any] | None
    kwargs: dict[str, Any]
    options: dict[str, Any]


@dataclass
class FakeSend:
    """Records every call; raises `fail` instead, when set (a broker that is down)."""

    fail: BaseException | None = None
    calls: list[Call] = field(default_factory=list)

    def __call__(
        self,
        name: str,
        args: Sequence[Any] | None = None,
        kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        if self.fail is not None:
            raise self.fail
        self.calls.append(Call(name, None if args is None else list(args), kwargs or {}, options))

    def publisher(self, **options: Any) -> publish.Publisher:
        """A Publisher that sends through this fake."""
        return publish.Publisher(self, **options)

    @property
    def kwargs(self) -> list[dict[str, Any]]:
        """The keyword arguments of every message, in order."""
        return [call.kwargs for call in self.calls]
