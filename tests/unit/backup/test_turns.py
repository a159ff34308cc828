from __future__ import annotations

import threading

from worker.backup import turns


def test_a_turn_waits_for_the_one_before_until_it_has_left() -> None:
    order: list[str] = []
    first_in, second_in, go_on = threading.Event(), threading.Event(), threading.Event()
    gate = turns.Turns()

    def first() -> None:
        with gate.turn() as left:
            first_in.set()
            assert go_on.wait(5)
            order.append("first left")
            left()
            left()  # a second call changes nothing
            assert second_in.wait(5)
            order.append("first ends")

    def second() -> None:
        assert first_in.wait(5)
        with gate.turn():
            order.append("second starts")
            second_in.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    assert first_in.wait(5)
    assert not second_in.wait(0.2)  # the first holds the turn
    go_on.set()
    for thread in threads:
        thread.join(5)
    assert order == ["first left", "second starts", "first ends"]


def test_a_turn_that_never_says_left_hands_on_at_its_end() -> None:
    gate = turns.Turns()
    with gate.turn():
        pass
    done = threading.Event()

    def later() -> None:
        with gate.turn():
            done.set()

    thread = threading.Thread(target=later)
    thread.start()
    assert done.wait(5)
    thread.join(5)
