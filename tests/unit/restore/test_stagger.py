"""Downloads held while a part before them runs, so that they end in order."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from worker.restore import stagger


@contextmanager
def writing(lanes: stagger.Stagger, index: int) -> Iterator[threading.Thread]:
    """Part `index` reporting bytes in a thread of its own (it may be held there)."""
    thread = threading.Thread(target=lanes.wrote, args=(index,), daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        lanes.end(index)
        thread.join(5)


def held(thread: threading.Thread, seconds: float = 0.2) -> bool:
    thread.join(seconds)
    return thread.is_alive()


def test_a_part_waits_while_any_part_before_it_runs() -> None:
    lanes = stagger.Stagger(budget=60)
    for index in range(3):
        lanes.start(index)
    with writing(lanes, 2) as third:
        assert held(third)
        lanes.end(1)  # done, failed or read from another copy: part 0 still runs
        assert held(third)
        lanes.end(0)
        assert not held(third, 5)


def test_the_first_running_part_never_waits() -> None:
    lanes = stagger.Stagger(budget=60)
    for index in (2, 3):  # parts 0 and 1 are done, or were kept from an earlier attempt
        lanes.start(index)
    started = time.monotonic()
    lanes.wrote(2)
    lanes.wrote(2)
    lanes.wrote(9)  # not running (its download ended): nothing to hold
    assert time.monotonic() - started < 1


def test_a_part_is_held_no_longer_than_its_budget_in_all() -> None:
    lanes = stagger.Stagger(budget=0.4)
    lanes.start(0)
    lanes.start(1)
    started = time.monotonic()
    lanes.wrote(1)
    first = time.monotonic() - started
    started = time.monotonic()
    lanes.wrote(1)  # the budget is spent: it reads on though part 0 still runs
    second = time.monotonic() - started
    assert 0.35 < first < 3
    assert second < 0.2


def test_a_budget_is_spent_across_holds() -> None:
    lanes = stagger.Stagger(budget=0.6)
    for index in range(3):
        lanes.start(index)
    with writing(lanes, 2) as third:
        time.sleep(0.3)
        lanes.end(1)  # wakes it; part 0 still runs, so it waits again for what is left
        assert held(third, 0.1)
        assert not held(third, 3)
