"""Preflight checks of a deployment, for `backup-worker check`: each a small function that
returns verdicts (ok, warn or fail; what was checked; on failure what to do).

Checks that wait on the network run in groups, each in a daemon thread of its own, with a
bounded timeout per connection and one deadline for all: a server that never answers costs one
"did not answer" line, not a hung command, and a daemon thread does not hold the process open.
Nothing here creates or changes anything.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from worker import redact

OK = "ok"
WARN = "warn"
FAIL = "fail"
TIMEOUT = 5.0  # seconds for each connection or request a check makes
_RANK = {OK: 0, WARN: 1, FAIL: 2}


@dataclass(frozen=True)
class Verdict:
    """One line of the check: its status, what was checked, what was found, what to do."""

    status: str
    check: str  # e.g. "broker", "server default: pg_dump", "chat -100123 (bot 123456)"
    detail: str
    fix: str = ""  # for warn and fail: what to do, when `detail` does not say it already

    def as_json(self) -> dict[str, str]:
        return {"status": self.status, "check": self.check, "detail": self.detail, "fix": self.fix}


def ok(check: str, detail: str) -> Verdict:
    return Verdict(OK, check, detail)


def warn(check: str, detail: str, fix: str = "") -> Verdict:
    return Verdict(WARN, check, detail, fix)


def fail(check: str, detail: str, fix: str = "") -> Verdict:
    return Verdict(FAIL, check, detail, fix)


def worst(verdicts: Sequence[Verdict]) -> str:
    """ok, warn or fail: the worst status among `verdicts` (ok when there are none)."""
    return max((v.status for v in verdicts), key=_RANK.__getitem__, default=OK)


@dataclass(frozen=True)
class Group:
    """Checks run one after another in one thread (e.g. a server, then its clients); `name`
    names the line printed when the group does not finish in time."""

    name: str
    run: Callable[[], list[Verdict]]


def run(groups: Sequence[Group], deadline: float, secrets: Sequence[str] = ()) -> list[Verdict]:
    """Every group's verdicts, in the order of `groups`, waiting at most `deadline` seconds in
    all. A group that raises gives one fail line with its error, `secrets` removed."""
    answers: queue.Queue[tuple[int, list[Verdict]]] = queue.Queue()

    def work(index: int, group: Group) -> None:
        try:
            found = group.run()
        except Exception as exc:  # noqa: BLE001 - a check's own bug: one line, not a crash
            text = redact.redact(f"{type(exc).__name__}: {exc}", *secrets)
            found = [fail(group.name, text.splitlines()[0] if text else type(exc).__name__)]
        answers.put((index, found))

    for index, group in enumerate(groups):
        name = f"check-{group.name}"
        threading.Thread(target=work, args=(index, group), name=name, daemon=True).start()
    results: dict[int, list[Verdict]] = {}
    end = time.monotonic() + deadline
    while len(results) < len(groups):
        left = end - time.monotonic()
        if left <= 0:
            break
        try:
            index, found = answers.get(timeout=left)
        except queue.Empty:
            break
        results[index] = found
    verdicts: list[Verdict] = []
    for index, group in enumerate(groups):
        verdicts += results.get(
            index,
            [fail(group.name, f"did not answer within {deadline:.0f} s", "is it reachable?")],
        )
    return verdicts
