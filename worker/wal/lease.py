"""One streamer per source server across the fleet: a lease in Redis, renewed while held.

SET NX PX takes it; a compare-and-extend script renews it only for its holder, and a
compare-and-delete releases it. A holder that dies (SIGKILL, a lost host) stops renewing, and
the lease lapses after `ttl` seconds: another streamer takes the server over within ttl plus
its own polling interval. A holder that fails to renew in time stops streaming before its lease
could have lapsed (see `Lease.renew`), so two holders never upload at once for long, and
even then the bundles' unique (server, timeline, start) key keeps the record single.
"""

from __future__ import annotations

import socket
import time
import uuid
from typing import cast

import redis

KEY = "backup-worker:wal-lease:{}"
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class Lease:
    """The lease of one server's stream, as one process holds (or wants) it."""

    def __init__(self, client: redis.Redis, server: str, ttl: float) -> None:
        self.client = client
        self.key = KEY.format(server)
        self.ttl_ms = int(ttl * 1000)
        self.token = f"{socket.gethostname()}:{uuid.uuid4().hex}"
        self.expires = 0.0  # monotonic time by which the lease surely lapses if not renewed

    def acquire(self) -> bool:
        """Take the lease if nobody holds it."""
        started = time.monotonic()
        if self.client.set(self.key, self.token, nx=True, px=self.ttl_ms):
            self.expires = started + self.ttl_ms / 1000
            return True
        return False

    def renew(self) -> bool:
        """Extend the lease; False when it was lost (lapsed and maybe taken by another)."""
        started = time.monotonic()
        if started >= self.expires:
            return False
        renewed = cast(int, self.client.eval(_RENEW, 1, self.key, self.token, self.ttl_ms))
        if renewed:
            self.expires = started + self.ttl_ms / 1000
        return bool(renewed)

    def release(self) -> None:
        """Give the lease up at once, so another host need not wait for it to lapse."""
        self.client.eval(_RELEASE, 1, self.key, self.token)
        self.expires = 0.0

    def holder(self) -> str | None:
        """Who holds the lease now (host:token), or None."""
        value = self.client.get(self.key)
        return None if value is None else cast(bytes, value).decode()
