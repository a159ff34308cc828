from __future__ import annotations

from worker.jobs import progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_writes_are_throttled_but_stage_changes_always_written() -> None:
    clock = FakeClock()
    written: list[tuple[str, int]] = []
    reporter = progress.Reporter(lambda s, p, _: written.append((s, p)), interval=0.5, clock=clock)
    for step in range(1000):  # a thousand chunks within 0.1 s
        clock.now = step / 10_000
        reporter.update("dump", step / 1000)
    assert written == [("dump", 1)]
    clock.now = 0.6
    reporter.update("dump", 0.5)
    reporter.update("upload", 0.0)
    assert written == [("dump", 1), ("dump", 25), ("upload", 50)]


def test_overall_progress_is_monotonic_across_stages() -> None:
    values = [progress.overall(stage, f / 10) for stage in progress.STAGES for f in range(11)]
    assert values == sorted(values)
    assert values[-1] == 100


def test_unchanged_progress_still_writes_a_heartbeat() -> None:
    clock = FakeClock()
    written: list[tuple[str, int]] = []
    reporter = progress.Reporter(
        lambda s, p, _: written.append((s, p)), interval=0.5, heartbeat=10, clock=clock
    )
    reporter.update("dump", 0.0)
    for second in range(1, 31):  # no estimate: the fraction never moves
        clock.now = float(second)
        reporter.update("dump", 0.0)
    assert written == [("dump", 1)] * 4  # at 0, 10, 20 and 30 s


def test_heartbeat_beats_while_the_block_runs_and_survives_a_failed_beat() -> None:
    import time

    beats: list[float] = []

    def beat() -> None:
        beats.append(time.monotonic())
        if len(beats) == 2:
            raise RuntimeError("database away")

    with progress.heartbeat(beat, 0.02):
        time.sleep(0.2)
    count = len(beats)
    time.sleep(0.1)
    assert count >= 4
    assert len(beats) == count  # stopped with the block


def test_a_write_made_by_the_caller_counts_for_the_throttle() -> None:
    clock = FakeClock()
    written: list[tuple[str, int]] = []
    reporter = progress.Reporter(lambda s, p, _: written.append((s, p)), interval=0.5, clock=clock)
    assert reporter.written("upload", 0.0) == 50
    clock.now = 0.1
    reporter.update("upload", 0.1)  # same stage, too soon after the caller's own write
    assert written == []
    clock.now = 0.7
    reporter.update("upload", 0.2)
    assert written == [("upload", 59)]
