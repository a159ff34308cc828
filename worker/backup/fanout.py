"""One backup's parts sent at once over several (bot, chat) pairs: the budgets add up.

Each chat takes a message a second and each group 20 a minute, whoever sends; with several chats
(or several bots, whose uploads then overlap), a part need not wait for the one before it. Threads
take the parts in order; the pacer gives each the earliest free pair. Why: docs/fleet.md.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from worker import errors
from worker.artifact import manifest
from worker.backup import turns as turns_
from worker.telegram import pacer as fleetpacer

if TYPE_CHECKING:
    from worker.backup import upload

PARALLEL_LIMIT = 4  # parts of one backup in flight at once, at most

SendOne = Callable[
    [manifest.PartFile, "upload.Destination", fleetpacer.Reservation | None, turns_.Left | None],
    "upload.Sent",
]


def send(
    parts: Sequence[manifest.PartFile],
    where: upload.Destination,
    width: int,
    send_one: SendOne,
    on_sent: Callable[[upload.SentPartJSON, upload.Migration | None], None],
    give_back: Callable[[dict[str, str]], None],
    reserved: fleetpacer.Reservation | None,
    *,
    turns: turns_.Turns | None = None,
) -> int:
    """Send `parts` with `width` threads; `on_sent` one part at a time. Returns the bytes sent.

    With `turns`, each part starts once the one before it has left (`send_one`'s `left`),
    which one pair into one chat uses on a slow link; without, they start at once.
    The first error stops new parts; it is raised once the parts in flight are done. A second
    PacerDeferred's kept slot goes back (`give_back`): only the raised one's is kept.
    """
    lock = threading.Lock()
    state = _State(list(reversed(parts)), where, reserved)

    def work() -> None:
        while True:
            with turns.turn() if turns is not None else contextlib.nullcontext() as left:
                with lock:
                    if state.failures or not state.queue:
                        return
                    part, to, slot = state.queue.pop(), state.where, state.reserved
                    state.reserved = None
                try:
                    record, migrated = send_one(part, to, slot, left)
                except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread below
                    with lock:
                        state.failures.append(exc)
                    return
            with lock:
                if migrated is not None:
                    state.where = state.where.migrated(migrated[0], str(migrated[1]))
                on_sent(record, migrated)
                state.sent += part.size_bytes

    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="part-fanout") as pool:
        for _ in range(width):
            pool.submit(work)
    if state.failures:
        for extra in state.failures[1:]:
            if isinstance(extra, errors.PacerDeferred):
                give_back(extra.slot)
        raise state.failures[0]
    return state.sent


@dataclass
class _State:
    queue: list[manifest.PartFile]  # the parts not taken yet, the next one last
    where: upload.Destination
    reserved: fleetpacer.Reservation | None
    sent: int = 0
    failures: list[BaseException] = field(default_factory=list)
