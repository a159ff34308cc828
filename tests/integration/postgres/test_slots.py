"""Fleet-wide dump slots on a real Redis: limits across threads and processes, leases, FIFO."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.support import services
from worker import errors
from worker.postgres import slots

PROJECT_ROOT = Path(__file__).resolve().parents[3]

# A worker process in miniature: hold a slot `rounds` times, print each interval (monotonic
# clock, shared by every process of the host), or with rounds=0 hold one until killed.
HOLDER = """
import json, sys, time, redis
from worker.postgres import slots
port, server, limit, lease, rounds, hold_for = sys.argv[1:7]
board = slots.Slots(redis.Redis(port=int(port)), lease_seconds=float(lease), poll_interval=0.02)
if int(rounds) == 0:
    with board.hold(server, int(limit), holder="victim"):
        print("held", flush=True)
        time.sleep(3600)
for _ in range(int(rounds)):
    with board.hold(server, int(limit), holder="proc"):
        start = time.monotonic()
        time.sleep(float(hold_for))
        print(json.dumps([start, time.monotonic()]), flush=True)
"""


def holder_process(port: int, *args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(port), *map(str, args)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    current = peak = 0
    for _, step in events:  # an end sorts before a start at the same instant
        current += step
        peak = max(peak, current)
    return peak


def test_threads_never_exceed_the_limit(redis_client: redis.Redis) -> None:
    board = slots.Slots(redis_client, lease_seconds=5, poll_interval=0.01)
    lock = threading.Lock()
    inside = peak = 0
    failures: list[Exception] = []

    def work(index: int) -> None:
        nonlocal inside, peak
        try:
            for _ in range(3):
                with board.hold("db1", 3, holder=f"job-{index}"):
                    with lock:
                        inside += 1
                        peak = max(peak, inside)
                    time.sleep(0.03)
                    with lock:
                        inside -= 1
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures
    assert peak == 3
    assert board.counts("db1") == (0, 0)


def test_processes_never_exceed_the_limit(redis_port: int, redis_client: redis.Redis) -> None:
    children = [holder_process(redis_port, "db2", 2, 5, 4, 0.05) for _ in range(6)]
    intervals: list[tuple[float, float]] = []
    for child in children:
        out, _ = child.communicate(timeout=60)
        assert child.returncode == 0
        intervals += [tuple(json.loads(line)) for line in out.splitlines()]
    assert len(intervals) == 24
    assert max_overlap(intervals) == 2


def test_a_sigkilled_holder_frees_its_slot_within_the_lease(
    redis_port: int, redis_client: redis.Redis
) -> None:
    lease = 1.5
    child = holder_process(redis_port, "db3", 1, lease, 0, 0)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "held"
        board = slots.Slots(redis_client, lease_seconds=lease, poll_interval=0.02)
        with (
            pytest.raises(errors.SlotTimeout, match="server db3"),
            board.hold("db3", 1, holder="early", timeout=0.3),
        ):
            pass
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        killed = time.monotonic()
        with board.hold("db3", 1, holder="next"):
            freed_after = time.monotonic() - killed
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    assert freed_after <= lease + 0.5


def test_renewal_keeps_a_long_holders_slot(redis_client: redis.Redis) -> None:
    board = slots.Slots(redis_client, lease_seconds=0.6, poll_interval=0.02)
    with board.hold("db4", 1, holder="long") as held:
        # Four leases long: without renewal the slot would have gone to the other waiter.
        with pytest.raises(errors.SlotTimeout), board.hold("db4", 1, holder="other", timeout=2.4):
            pass
        assert not held.lost
    with board.hold("db4", 1, holder="other", timeout=0.5) as second:
        assert second.waited < 0.5


def test_waiters_are_served_first_come_first_served(redis_client: redis.Redis) -> None:
    board = slots.Slots(redis_client, lease_seconds=5, poll_interval=0.01)
    order: list[str] = []

    def wait(name: str) -> None:
        with board.hold("db5", 1, holder=name):
            order.append(name)
            time.sleep(0.02)

    with board.hold("db5", 1, holder="first"):
        threads = []
        for index, name in enumerate(["b", "c", "d", "e"], start=1):
            threads.append(threading.Thread(target=wait, args=(name,)))
            threads[-1].start()
            deadline = time.monotonic() + 5
            while board.counts("db5")[1] < index:  # queued before the next one comes
                assert time.monotonic() < deadline
                time.sleep(0.005)
    for thread in threads:
        thread.join(timeout=30)
    assert order == ["b", "c", "d", "e"]


def test_a_release_wakes_the_next_waiter_at_once(redis_client: redis.Redis) -> None:
    # Polls a minute apart: only the release's wake can hand the slot over within the test.
    board = slots.Slots(redis_client, lease_seconds=5, poll_interval=60)
    handed: dict[str, float] = {}

    def wait(name: str) -> None:
        with board.hold("db12", 1, holder=name):
            handed[name] = time.monotonic()

    with board.hold("db12", 1, holder="first"):
        threads = []
        for index, name in enumerate(["b", "c"], start=1):
            threads.append(threading.Thread(target=wait, args=(name,), daemon=True))
            threads[-1].start()
            deadline = time.monotonic() + 5
            while board.counts("db12")[1] < index:
                assert time.monotonic() < deadline
                time.sleep(0.005)
        released = time.monotonic()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(handed, key=handed.__getitem__) == ["b", "c"]
    assert handed["c"] - released < 5
    assert board.counts("db12") == (0, 0)


def test_a_dead_waiter_leaves_the_queue_by_itself(redis_client: redis.Redis) -> None:
    board = slots.Slots(redis_client, lease_seconds=5, poll_interval=0.01)
    with board.hold("db6", 1, holder="busy"):
        # A waiter that queued once and died: its presence lasts half a second.
        board._call(board._acquire, "db6", "ghost#0", 1, 5000, 500, tag=4)
        assert board.counts("db6") == (1, 1)
    started = time.monotonic()
    with board.hold("db6", 1, holder="alive"):
        assert time.monotonic() - started < 2


def test_on_wait_reports_and_a_timed_out_waiter_leaves_the_queue(
    redis_client: redis.Redis,
) -> None:
    board = slots.Slots(redis_client, lease_seconds=5, poll_interval=0.01, report_interval=0.1)
    reports: list[float] = []
    with board.hold("db7", 1, holder="busy"):
        with (
            pytest.raises(errors.SlotTimeout, match=r"at most 1 at once"),
            board.hold("db7", 1, holder="patient", on_wait=reports.append, timeout=0.35),
        ):
            pass
        assert board.counts("db7") == (1, 0)
    assert reports[0] < 0.05
    assert len(reports) >= 3
    assert reports == sorted(reports)


def test_no_wait_no_report(redis_client: redis.Redis) -> None:
    board = slots.Slots(redis_client)
    reports: list[float] = []
    with board.hold("db8", 2, holder="a", on_wait=reports.append) as held:
        assert held.token.startswith("a#")
        assert board.counts("db8") == (1, 0)
    assert reports == []
    assert board.counts("db8") == (0, 0)


def test_a_lease_that_ran_out_is_reported_lost(redis_client: redis.Redis) -> None:
    board = slots.Slots(redis_client, lease_seconds=0.3, poll_interval=0.01)
    with board.hold("db9", 1, holder="a") as held:
        redis_client.delete("backup-worker:slots:{db9}:holders")  # as if the lease had expired
        deadline = time.monotonic() + 3
        while not held.lost:
            assert time.monotonic() < deadline
            time.sleep(0.02)


def test_keys_expire_when_a_server_goes_idle(redis_client: redis.Redis) -> None:
    board = slots.Slots(redis_client, lease_seconds=1)
    with board.hold("db10", 1, holder="a"):
        pass
    ttls = [redis_client.pttl(key) for key in redis_client.keys("backup-worker:slots:*")]
    assert ttls
    assert all(0 < ttl <= 70_000 for ttl in ttls)


def test_a_waiter_waits_out_a_restarting_redis(tmp_path: Path) -> None:
    # The slots live in the broker's Redis by default: a broker restart must not fail a dump.
    server = services.RedisServer(tmp_path, services.free_port())
    server.start()
    client = redis.Redis(host="127.0.0.1", port=server.port, retry=Retry(NoBackoff(), 0))
    board = slots.Slots(client, lease_seconds=5, poll_interval=0.05)
    got: list[float] = []
    try:
        server.stop()
        waiter = threading.Thread(target=lambda: got.append(_held_after(board)), daemon=True)
        waiter.start()
        time.sleep(0.5)
        assert got == []  # still waiting, not failed
        server.start()
        waiter.join(timeout=10)
        assert len(got) == 1
        assert got[0] >= 0.5
    finally:
        client.close()
        server.stop()


def test_a_slot_released_while_redis_was_away_is_freed_once_it_is_back(tmp_path: Path) -> None:
    # A Sentinel failover or a restart with persistence keeps the holders of before: a release
    # that failed meanwhile must not leave the slot to its lease.
    server = services.RedisServer(tmp_path, services.free_port(), append_only=True)
    server.start()
    client = redis.Redis(host="127.0.0.1", port=server.port, retry=Retry(NoBackoff(), 0))
    board = slots.Slots(client, lease_seconds=30, poll_interval=0.05)
    try:
        with board.hold("db11", 1, holder="done"):
            server.stop()  # the dump ends while Redis is away
        server.start()
        started = time.monotonic()
        held_after = _held_after(board, "db11")
        assert time.monotonic() - started < 5, held_after  # not the 30 s lease
    finally:
        client.close()
        server.stop()


def test_a_waiter_gives_up_on_redis_gone_for_good(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(slots, "UNREACHABLE_WAIT", 0.3)
    # No retries of redis-py's own: each refused connection comes back at once.
    client = redis.Redis(host="127.0.0.1", port=services.free_port(), retry=Retry(NoBackoff(), 0))
    board = slots.Slots(client, lease_seconds=5, poll_interval=0.05)
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        _held_after(board)
    assert time.monotonic() - started >= 0.3
    client.close()


def _held_after(board: slots.Slots, server: str = "db9") -> float:
    started = time.monotonic()
    with board.hold(server, 1, holder="restart"):
        return time.monotonic() - started
