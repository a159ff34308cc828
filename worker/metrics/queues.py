"""How many messages wait in each Celery queue on the Redis broker.

kombu keeps a queue as a Redis list named after it, plus one list per priority step
(`<queue>\\x06\\x16<priority>`); the depth of a queue is the sum of them. The queues are the
default one ("celery") and every worker's own `<nodename>.dq2` (worker_direct), found by
SCAN, so a worker that died with messages in its queue still shows them.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis

from worker import redisconn

DEFAULT_QUEUES = ("celery",)
PRIORITY_SEP = "\x06\x16"  # kombu.transport.redis' separator of a queue and its priority
PRIORITY_STEPS = (3, 6, 9)  # kombu's default steps above 0, which uses the plain name
DIRECT_SUFFIX = ".dq2"


def depths(client: redis.Redis, queues: Iterable[str] = DEFAULT_QUEUES) -> dict[str, int]:
    """Queue name -> messages waiting, for `queues` and every worker's direct queue."""
    names: set[str] = set()
    for queue in queues:
        names.add(queue)
        names.update(f"{queue}{PRIORITY_SEP}{step}" for step in PRIORITY_STEPS)
    for key in client.scan_iter(match=f"*{DIRECT_SUFFIX}*", count=1000, _type="LIST"):
        names.add(key.decode() if isinstance(key, bytes) else str(key))
    found = {queue: 0 for queue in queues}
    ordered = sorted(names)
    with client.pipeline(transaction=False) as pipe:
        for name in ordered:
            pipe.llen(name)
        lengths = pipe.execute()
    for name, length in zip(ordered, lengths, strict=True):
        queue = name.split(PRIORITY_SEP, 1)[0]
        if queue in found or length:
            found[queue] = found.get(queue, 0) + int(length)
    return dict(sorted(found.items()))


def is_redis(url: str) -> bool:
    """Whether a broker URL is Redis (the queues and the counters can be read there)."""
    return redisconn.is_redis(url)
