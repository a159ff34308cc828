"""Per-server load limits across the fleet: a Redis semaphore whose slots are leases.

Per server, three keys: `holders` (sorted set: token → lease expiry, ms), `queue` (token → FIFO
ticket) and `waiting` (token → expiry of the waiter's own presence). All changes happen in Lua,
so acquire, renew and release are atomic; time is Redis's TIME, so the clocks of worker hosts
never matter. A holder that dies (SIGKILL, lost host) stops renewing and its slot frees when the
lease runs out; a waiter that dies leaves the queue when its presence runs out, so it cannot
block the queue for long. Waiters are served in ticket order: nobody starves behind newcomers.
A release pushes to the `wake` list of each waiter it lets in, so the slot changes hands at once;
a waiter still polls, for the slots that free by expiry.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import redis
from redis.commands.core import Script

from worker import errors

DEFAULT_LEASE = 60.0  # seconds a slot survives its holder's silence
POLL_INTERVAL = 0.5  # seconds between two tries of a waiter
REPORT_INTERVAL = 10.0  # seconds between two on_wait calls
# Seconds a waiter goes on polling an unreachable Redis (a broker restart) before it gives up,
# as long as Celery's publish retry (celeryconfig.task_publish_retry_policy).
UNREACHABLE_WAIT = 60.0
KEY_PREFIX = "backup-worker:slots"
_log = logging.getLogger(__name__)

_PRUNE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for _, token in ipairs(gone) do
  redis.call('ZREM', KEYS[2], token)
  redis.call('ZREM', KEYS[3], token)
end
"""

# KEYS: holders, queue, waiting, ticket. ARGV: token, limit, lease ms, presence ms.
# Returns 1 when the slot is held (fresh or renewed), 0 when the caller waits in the queue.
_ACQUIRE = (
    _PRUNE
    + """
local token, limit = ARGV[1], tonumber(ARGV[2])
local lease, presence = tonumber(ARGV[3]), tonumber(ARGV[4])
if redis.call('ZSCORE', KEYS[1], token) then
  redis.call('ZADD', KEYS[1], now + lease, token)
  return 1
end
if not redis.call('ZSCORE', KEYS[2], token) then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[4]), token)
end
redis.call('ZADD', KEYS[3], now + presence, token)
local free = limit - redis.call('ZCARD', KEYS[1])
if redis.call('ZRANK', KEYS[2], token) < free then
  redis.call('ZADD', KEYS[1], now + lease, token)
  redis.call('ZREM', KEYS[2], token)
  redis.call('ZREM', KEYS[3], token)
  for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, lease + presence + 60000) end
  return 1
end
for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, lease + presence + 60000) end
return 0
"""
)

# KEYS: holders. ARGV: token, lease ms. Returns 0 when the lease was already lost.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expiry or tonumber(expiry) <= now then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) + 60000)
return 1
"""

# KEYS: holders, queue, waiting. ARGV: token, limit, the wake lists' prefix, presence ms.
# The wake lists are named from a prefix under the server's hash tag, in the keys' cluster slot.
_RELEASE = (
    _PRUNE
    + """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
local free = tonumber(ARGV[2]) - redis.call('ZCARD', KEYS[1])
if free > 0 then
  for _, token in ipairs(redis.call('ZRANGE', KEYS[2], 0, free - 1)) do
    local wake = ARGV[3] .. token
    redis.call('RPUSH', wake, 1)
    redis.call('PEXPIRE', wake, tonumber(ARGV[4]))
  end
end
return 1
"""
)

# KEYS: holders, queue, waiting. Returns {holding, waiting} after pruning.
_COUNT = (
    _PRUNE
    + """
return {redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2])}
"""
)


class Hold:
    """A held slot: renewed by a heartbeat thread until the `with` block ends."""

    def __init__(self, slots: Slots, server: str, token: str, waited: float) -> None:
        self.server = server
        self.token = token
        self.waited = waited  # seconds spent in the queue
        self._slots = slots
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._thread = threading.Thread(target=self._heartbeat, name=f"slot-{server}", daemon=True)

    @property
    def lost(self) -> bool:
        """Whether the lease ran out before a renewal reached Redis: the limit may be exceeded."""
        return self._lost.is_set()

    def _heartbeat(self) -> None:
        lease = self._slots.lease_seconds
        # A third of the lease: two renewals may fail (a Redis blip) before the slot is lost.
        while not self._stop.wait(lease / 3):
            try:
                if not self._slots._renew(self.server, self.token):
                    self._lost.set()
                    _log.warning("lost the dump slot on server %s (lease expired)", self.server)
                    return
            except redis.RedisError as exc:
                _log.warning("cannot renew the dump slot on server %s: %s", self.server, exc)

    def _close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


class Slots:
    """At most `limit` holders per server, fleet-wide; pass one Redis client per process."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        lease_seconds: float = DEFAULT_LEASE,
        poll_interval: float = POLL_INTERVAL,
        report_interval: float = REPORT_INTERVAL,
        prefix: str = KEY_PREFIX,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if lease_seconds <= 0 or poll_interval <= 0:
            raise ValueError("lease_seconds and poll_interval must be positive")
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.report_interval = report_interval
        self._redis = client
        self._prefix = prefix
        self._sleep = sleep
        # A waiter's presence outlives a few missed polls, so a slow poll does not cost its turn.
        self._presence = max(5 * poll_interval, 5.0)
        self._acquire = client.register_script(_ACQUIRE)
        self._renew_script = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._count = client.register_script(_COUNT)

    @contextlib.contextmanager
    def hold(
        self,
        server: str,
        limit: int,
        *,
        holder: str,
        on_wait: Callable[[float], None] | None = None,
        timeout: float | None = None,
    ) -> Iterator[Hold]:
        """Wait for a slot on `server`, hold it for the block, release it after.

        `on_wait(seconds_waited)` runs when the first try finds no slot free and then every
        `report_interval` seconds, so the caller can say so in the jobs row. SlotTimeout after
        `timeout` seconds in the queue (None: wait as long as it takes).
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        # The holder's own name keeps Redis readable; the suffix keeps two attempts of one job
        # (a redelivery while the first still runs) from sharing one slot.
        token = f"{holder}#{uuid.uuid4().hex[:12]}"
        waited = self._wait(server, limit, token, on_wait, timeout)
        held = Hold(self, server, token, waited)
        held._thread.start()
        try:
            yield held
        finally:
            held._close()
            self._free(server, limit, token)

    def counts(self, server: str) -> tuple[int, int]:
        """(holding, waiting) on `server` right now, for status pages and tests."""
        answer = self._call(self._count, server)
        assert isinstance(answer, list)
        holding, waiting = answer
        return int(holding), int(waiting)

    def _wait(
        self,
        server: str,
        limit: int,
        token: str,
        on_wait: Callable[[float], None] | None,
        timeout: float | None,
    ) -> float:
        started = time.monotonic()
        reported_at: float | None = None
        presence = self._presence
        unreachable_since: float | None = None
        try:
            while True:
                lease_ms, presence_ms = int(self.lease_seconds * 1000), int(presence * 1000)
                try:
                    got = self._call(
                        self._acquire, server, token, limit, lease_ms, presence_ms, tag=4
                    )
                    unreachable_since = None
                except (redis.ConnectionError, redis.TimeoutError) as exc:
                    # A restarting Redis: a dump waits for it rather than failing its job.
                    now = time.monotonic()
                    unreachable_since = unreachable_since or now
                    if now - unreachable_since >= UNREACHABLE_WAIT:
                        raise
                    _log.warning("dump slots on server %s: Redis unreachable (%s)", server, exc)
                    self._sleep(self.poll_interval)
                    continue
                if got:
                    return time.monotonic() - started
                waited = time.monotonic() - started
                if timeout is not None and waited >= timeout:
                    raise errors.SlotTimeout(
                        f"no dump slot came free on server {server} in {waited:.0f} s "
                        f"(at most {limit} at once): the server is busy, try again later"
                    )
                if on_wait is not None and (
                    reported_at is None or waited - reported_at >= self.report_interval
                ):
                    reported_at = waited
                    on_wait(waited)
                self._nap(server, token)
        except BaseException:
            self._free(server, limit, token)  # leave the queue at once, not by expiry
            raise

    def _nap(self, server: str, token: str) -> None:
        """Until a release lets this waiter in, or the next poll; an unreachable Redis is left
        to the next try, which waits it out."""
        try:
            self._redis.blpop([self._wake_key(server, token)], timeout=self.poll_interval)
        except (redis.ConnectionError, redis.TimeoutError):
            self._sleep(self.poll_interval)

    def _free(self, server: str, limit: int, token: str) -> None:
        """Release `token`'s slot (or its place in the queue), now or once Redis is back.

        A release that cannot reach Redis (a restart, a Sentinel failover whose replica kept the
        slot) would leave the slot to its lease, and every other dump of the server waiting up
        to a minute behind a holder that is done: it is tried again in the background until it
        lands or the lease would have freed the slot anyway.
        """
        try:
            self._release_token(server, limit, token)
        except (redis.ConnectionError, redis.TimeoutError):
            threading.Thread(
                target=self._free_later,
                args=(server, limit, token),
                name=f"slot-free-{server}",
                daemon=True,
            ).start()
        except redis.RedisError as exc:  # the lease frees it
            _log.warning("cannot release the dump slot on server %s: %s", server, exc)

    def _free_later(self, server: str, limit: int, token: str) -> None:
        deadline = time.monotonic() + self.lease_seconds
        while time.monotonic() < deadline:
            time.sleep(self.poll_interval)
            try:
                self._release_token(server, limit, token)
            except redis.RedisError:
                continue
            _log.info("released the dump slot on server %s once Redis was back", server)
            return

    def _release_token(self, server: str, limit: int, token: str) -> None:
        presence_ms = int(self._presence * 1000)
        self._call(self._release, server, token, limit, self._wake_key(server, ""), presence_ms)

    def _renew(self, server: str, token: str) -> bool:
        lease_ms = int(self.lease_seconds * 1000)
        return bool(self._renew_script(keys=[self._key(server, "holders")], args=[token, lease_ms]))

    def _call(self, script: Script, server: str, *args: str | int, tag: int = 3) -> object:
        names = ("holders", "queue", "waiting", "ticket")[:tag]
        answer: object = script(keys=[self._key(server, name) for name in names], args=args)
        return answer

    def _wake_key(self, server: str, token: str) -> str:
        return self._key(server, f"wake:{token}")

    def _key(self, server: str, name: str) -> str:
        # One hash tag per server keeps its keys in one Redis Cluster slot, as Lua requires.
        return f"{self._prefix}:{{{server}}}:{name}"
